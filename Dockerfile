# Caucus: runs `caucusbot run` as a non-root user; SQLite data in /data (mount a volume).
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 caucus && mkdir /data && chown caucus /data
WORKDIR /src
COPY pyproject.toml setup.py README.md babel.cfg ./
COPY bot ./bot
COPY flows ./flows
COPY storage ./storage
COPY locales ./locales
# The same install step as CI (pip builds the package and compiles the catalogs).
# EXTRAS: "postgres,matching" adds cross-language matching of interests (about 100 MB more).
ARG EXTRAS=postgres,matching
RUN pip install --no-cache-dir ".[${EXTRAS}]" && rm -rf /src

USER caucus
WORKDIR /data
ENV CAUCUS_MASTER_KEY_FILE=/run/secrets/caucus.key
VOLUME ["/data"]
CMD ["caucusbot", "run"]
