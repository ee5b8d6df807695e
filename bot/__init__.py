"""Telegram transport of Caucus."""

import os

# python-telegram-bot 22 moves time periods (such as RetryAfter.retry_after) from int seconds to
# timedelta and warns on every read until a program opts in. Caucus opts in: silencing the warning
# per read instead would need warnings.catch_warnings(), which is not safe across threads.
os.environ.setdefault("PTB_TIMEDELTA", "true")
