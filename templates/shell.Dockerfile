# The kit's tool image: python3 with the difflayers package, rsync, and a
# static busybox that the kit lends to OLD and NEW containers (their images
# need no shell). Every service of the compose files runs from it.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE} AS kit
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-yaml python3-jinja2 python3-docker rsync busybox-static \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/difflayers/kit \
 && cp /bin/busybox /opt/difflayers/kit/busybox
COPY templates /opt/difflayers/templates
COPY difflayers /opt/difflayers/difflayers
ENV PYTHONPATH=/opt/difflayers PYTHONDONTWRITEBYTECODE=1 LC_ALL=C.UTF-8
WORKDIR /project/scripts

# The `difflayers` command as an image of its own, for machines without Python:
#   docker build -f templates/shell.Dockerfile --target cli -t difflayers .
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock difflayers optimize OLD NEW --path /app -t TAG
FROM kit AS cli
WORKDIR /work
ENTRYPOINT ["python3", "-m", "difflayers"]
