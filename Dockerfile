# The zretry worker image: built in one stage, run from a second that holds
# only the build output, the Lua scripts and production dependencies, as
# the unprivileged "node" user. docker-compose.yml runs it.

# ---- build: every dependency, then the TypeScript build ----
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies only, not root ----
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# The worker's Kafka client, an optional peer dependency of zretry: kafkajs by default. For Confluent's,
# --build-arg KAFKA_CLIENT=@confluentinc/kafka-javascript@^1.10.1 and run with ZRETRY_KAFKA_CLIENT=confluent
# (npm fetches its prebuilt binary where the platform has one; otherwise it needs librdkafka's build, README).
# --save-prod: kafkajs is a devDependency in the manifest, which --omit=dev would skip; only the image's copy changes.
ARG KAFKA_CLIENT=kafkajs@2.2.4
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
  && npm install --save-prod --omit=dev --no-audit --no-fund "$KAFKA_CLIENT" \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY lua ./lua
COPY ui ./ui
COPY bin ./bin
COPY monitoring ./monitoring
COPY examples/log-handler.js ./examples/log-handler.js
USER node
# the admin endpoint (/metrics, /healthz, /readyz); set ZRETRY_HTTP_HOST=0.0.0.0 and ZRETRY_HTTP_TOKEN to reach it from outside
EXPOSE 9464
# /healthz answers once the worker has started (it waits for Redis and Kafka first); sends the token when one is set
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const t=process.env.ZRETRY_HTTP_TOKEN;fetch('http://127.0.0.1:'+(process.env.ZRETRY_HTTP_PORT||9464)+'/healthz',{headers:t?{authorization:'Bearer '+t}:{}}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/zretry.js"]
CMD ["worker"]
