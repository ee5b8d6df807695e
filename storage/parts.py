"""What each part of a transaction (grievances, chats, retention) relies on from `storage.repository.Transaction`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.repository import Store, _Keys

__all__ = ["TransactionPart"]


class TransactionPart:
    """A mixin of `Transaction`: the session, the keys and the audit trail come from the whole."""

    store: Store
    session: AsyncSession
    _keys: _Keys

    async def _locked(self, model: type[Any], row_id: str) -> Any:  # pragma: no cover - Transaction's
        raise NotImplementedError

    async def language_of(self, user_hash: str) -> str | None:  # pragma: no cover - Transaction's
        raise NotImplementedError

    async def case_key_id(self, case_id: str) -> str:  # pragma: no cover - Transaction's
        raise NotImplementedError

    async def seat_key_id(self, seat_id: str) -> str:  # pragma: no cover - Transaction's
        raise NotImplementedError

    async def audit(self, kind: str, *, actor: str, case_id: str | None = None, seat_id: str | None = None,
                    **detail: Any) -> None:  # pragma: no cover - Transaction's
        raise NotImplementedError
