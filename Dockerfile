# termsvc: the FHIR terminology server, as a container image.
#
#   docker build -t termsvc .                           # content mounted at /content (the default target)
#   docker build -t termsvc:bundled --target bundled .  # the default content built into the image
#
#   docker run -p 8080:8080 -v termsvc-content:/content termsvc            # serves /content/termsvc.db
#   docker run -v termsvc-content:/content termsvc pull URL --sha256 HEX   # puts a published build there
#
# The entry point is the `termsvc` command: `serve` by default, `pull` for an init container.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- the virtual environment with termsvc and its dependencies ------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /opt/termsvc
COPY . .
# editable: the package keeps finding the project's content folders (valuesets/, mappings_csv/) beside it
RUN /opt/venv/bin/pip install --no-cache-dir -e . \
 && /opt/venv/bin/python -m compileall -q termsvc

# -- the default content, built once (only for the `bundled` target) ---------------------------
FROM builder AS content
# npm fetches the FHIR packages (hl7.fhir.r5.core, THO, IPS) from npm's registry
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN /opt/venv/bin/termsvc packages fetch --defaults \
 && /opt/venv/bin/termsvc build --db /content/termsvc.db --quiet

# -- what runs: non-root, read-only use of /content ------------------------------------------
FROM ${PYTHON_IMAGE} AS base
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin termsvc \
 && mkdir /content \
 && chown termsvc:termsvc /content
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/termsvc /opt/termsvc
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TERMSVC_DB=/content/termsvc.db
WORKDIR /content
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ready', timeout=2)"]
ENTRYPOINT ["termsvc"]
# --workers: one per CPU the container may use (its CPU limit, else the host's CPUs)
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

FROM base AS bundled
COPY --from=content --chown=10001:10001 /content/termsvc.db /content/termsvc.db

# the default target: content mounted (or pulled) at /content
FROM base AS runtime
LABEL org.opencontainers.image.title="termsvc" \
      org.opencontainers.image.description="FHIR terminology server for the HL7 Europe Imaging Report IG"
