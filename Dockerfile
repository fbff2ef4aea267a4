# mq-api and mq-worker in one image (the command picks which). Debian 12 packages only.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ccache \
      libcaf-dev librabbitmq-dev libhiredis-dev libpqxx-dev libcurl4-openssl-dev libssl-dev libpoppler-cpp-dev \
      rapidjson-dev libyaml-cpp-dev libboost-dev libjemalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DMQ_BUILD_TESTS=OFF -DMQ_FAILPOINTS=OFF \
    && cmake --build /build -j2 --target mq-api mq-worker mqctl

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcaf-core0.17 librabbitmq4 libhiredis0.14 libpqxx-6.4 libcurl4 libssl3 libyaml-cpp0.7 libjemalloc2 libpoppler-cpp0v5 \
      ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home mq
COPY --from=build /build/api/mq-api /build/workers/mq-worker /build/cli/mqctl /usr/local/bin/
USER mq
# Containers listen on every interface; the default config says 127.0.0.1.
ENV MQ_HTTP_HOST=0.0.0.0 MQ_WORKER_METRICS_HOST=0.0.0.0
# 8080: mq-api; 9464: a worker's /metrics, /health and /ready.
EXPOSE 8080 9464
CMD ["mq-api"]
