# termsvc: the FHIR terminology server, as a container image.
#
#   docker build -t termsvc .                           # content mounted at /content (the default target)
#   docker build -t termsvc:bundled --target bundled .  # the default content built into the image
#
#   docker run -p 8080:8080 -v termsvc-content:/content termsvc            # serves /content/termsvc.db
#   docker run -v termsvc-content:/content termsvc pull URL --sha256 HEX   # puts a published build there
#
# The entry point is the `termsvc` command: `serve` by default, `pull` for an init container.
# scripts/container_proof.py builds both targets and runs them (read-only, non-root, health-checked).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- the virtual environment: termsvc installed as a package, its content folders as package data --
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# the dependencies first, in a layer of their own: an edit of the source does not reinstall them
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
 && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt "setuptools>=70.1"
COPY . .
# a regular install (a wheel's files, not a link to /src); then pip and setuptools leave the venv
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip uninstall --yes --quiet setuptools pip \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

# -- the default content, built once (only for the `bundled` target) ---------------------------
FROM builder AS content
# the FHIR packages (hl7.fhir.r5.core, THO, IPS) come over HTTPS from an npm-layout registry: no Node.js
ARG FHIR_PACKAGE_REGISTRY=https://registry.npmjs.org
RUN FHIR_PACKAGE_REGISTRY="${FHIR_PACKAGE_REGISTRY}" /opt/venv/bin/termsvc packages fetch --defaults \
 && /opt/venv/bin/termsvc build --db /content/termsvc.db --quiet

# -- what runs: non-root (10001:10001), read-only use of /content ------------------------------
FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 termsvc \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin termsvc \
 && mkdir /content \
 && chown 10001:10001 /content
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TERMSVC_DB=/content/termsvc.db
WORKDIR /content
USER 10001:10001
EXPOSE 8080
# bash alone (no Python started): GET /ready over /dev/tcp, healthy when the status line says 200
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["termsvc"]
# --workers: one per CPU the container may use (its CPU limit, else the host's CPUs)
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

FROM base AS bundled
COPY --from=content --chown=10001:10001 /content/ /content/

# the default target: content mounted (or pulled) at /content
FROM base AS runtime
LABEL org.opencontainers.image.title="termsvc" \
      org.opencontainers.image.description="FHIR terminology server for the HL7 Europe Imaging Report IG"
