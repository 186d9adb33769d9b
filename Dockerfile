# swarm-sentinel: Prometheus exporter + auto-healer for Docker Swarm.
#
#   docker build -t swarm-sentinel:0.1.0 .
#
# Two stages: the first installs the project and its dependencies into a virtualenv,
# the second copies only that virtualenv onto a clean python:3.11-slim (no pip cache, no
# build leftovers). Every dependency ships manylinux wheels, so no compiler is needed.
# See docs/deploy.md for running it as a swarm stack (compose/swarm-sentinel.yml).
#
# tests/test_compose_lab.py builds an equivalent image without a registry (same layout,
# ENTRYPOINT, USER, EXPOSE and HEALTHCHECK, read from this file) and deploys it on the
# test swarm.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/swarm-sentinel
WORKDIR /src
# Only what the package needs: .dockerignore keeps tests, the lab, docs, .venv out.
COPY pyproject.toml README.md ./
COPY common ./common
COPY exporter ./exporter
COPY healer ./healer
COPY swarm_sentinel ./swarm_sentinel
# pip and setuptools are not needed at run time: out of the final image.
RUN /opt/swarm-sentinel/bin/pip install . \
    && /opt/swarm-sentinel/bin/pip uninstall -y pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="swarm-sentinel" \
      org.opencontainers.image.description="Prometheus exporter and careful auto-healer for Docker Swarm" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, unprivileged user. It owns nothing in the image and needs nothing but the
# Engine API: to open /var/run/docker.sock (root:docker, mode 0660) the container must run
# with the docker group's GID of the host, e.g. `--user 10001:$(getent group docker | cut
# -d: -f3)`; the stack file does that through DOCKER_GID. Any process that can open the
# socket can also write to the API (which the healer needs): see docs/deploy.md.
RUN groupadd --system --gid 10001 sentinel \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sentinel

COPY --from=build /opt/swarm-sentinel /opt/swarm-sentinel
ENV PATH=/opt/swarm-sentinel/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The git commit dockerswarm_build_info reports (.git is not in the build context):
#   docker build --build-arg REVISION=$(git rev-parse HEAD) .
ARG REVISION=unknown
LABEL org.opencontainers.image.revision=$REVISION
ENV SWARM_SENTINEL_REVISION=$REVISION

USER 10001:10001
EXPOSE 9675

# /healthz answers 200 as long as the HTTP server runs. The port follows
# SWARM_SENTINEL_WEB_LISTEN_ADDRESS (default :9675); a 401 (basic auth from
# --web.config.file) also proves the server is alive. With TLS in --web.config.file,
# override the healthcheck (see docs/deploy.md). No curl in the image: python's http.client.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import http.client as h, os, sys; p = os.environ.get('SWARM_SENTINEL_WEB_LISTEN_ADDRESS', ':9675').rpartition(':')[2]; c = h.HTTPConnection('127.0.0.1', int(p), timeout=4); c.request('GET', '/healthz'); sys.exit(c.getresponse().status not in (200, 401))"]

ENTRYPOINT ["swarm-sentinel"]
