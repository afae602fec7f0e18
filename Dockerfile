# genozoo: the Gradio space by default (port 7860); any CLI command instead, e.g.
#   docker run --rm IMAGE genozoo list --pretrained
# CPU build by default; a CUDA build by build argument (run it with the GPU passed through):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 -t genozoo:cuda .
ARG BASE=python:3.11-slim
FROM ${BASE}

# torch comes from the PyTorch index named here (CPU wheels by default); empty = PyPI only, where pip also finds a
# local wheel folder given by PIP_FIND_LINKS (docker/smoke.sh does that offline).
ARG TORCH_VERSION="2.13.0"
ARG TORCH_INDEX="https://download.pytorch.org/whl/cpu"
ARG TINI_VERSION="0.19.*"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HUB_OFFLINE=1 \
    GENOZOO_HUB_DIR=/app/hub \
    GENOZOO_SPACE_DIR=/app/space \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tini as PID 1: Python as PID 1 ignores SIGTERM, tini forwards it so `docker stop` ends the space at once.
RUN apt-get update \
    && apt-get install -y --no-install-recommends "tini=${TINI_VERSION}" \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --shell /bin/bash genozoo

# torch first and pinned, in its own layer: an unpinned torch pulled in later would be a multi-GB CUDA build.
RUN python3 -m venv "$VIRTUAL_ENV" \
    && pip install --extra-index-url "${TORCH_INDEX:-https://pypi.org/simple}" "torch==${TORCH_VERSION}"

WORKDIR /app
# The dependencies in their own layer, installed from pyproject.toml alone (an empty package holding only
# zoo/version.py, where pyproject.toml reads the version, stands in for zoo/), so a change of the code does not
# reinstall them. The editable install reads hub/, cards/, space/ and train/recipes/ from /app (zoo.resources).
COPY pyproject.toml README.md ./
COPY zoo/version.py zoo/version.py
RUN touch zoo/__init__.py \
    && pip install "torch==${TORCH_VERSION}" -e ".[space]"
# .dockerignore lets through only pyproject.toml, README.md, zoo/, space/, hub/, cards/ and train/recipes/.
COPY . .
# Bytecode for genozoo's own modules: PYTHONDONTWRITEBYTECODE (and a read-only /app for user 1000) would otherwise
# compile them from source at every start (70 ms of each command's start-up).
RUN python -m compileall -q zoo \
    && python -c "import zoo, gradio; print('genozoo', zoo.__version__, 'gradio', gradio.__version__)"

USER 1000:1000
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ.get('GRADIO_SERVER_PORT', '7860'), timeout=8)"]
ENTRYPOINT ["tini", "--"]
# Listens on $GRADIO_SERVER_NAME:$GRADIO_SERVER_PORT (0.0.0.0:7860); the HEALTHCHECK follows the port.
CMD ["genozoo", "space"]
