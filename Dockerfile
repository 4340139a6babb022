# Weft's container image: `weft start` as the entrypoint, run as a non-root user (node, uid 1000).
#   docker build -t <registry>/weft:0.1.0 .
#   docker run --rm <registry>/weft:0.1.0 --config /etc/weft/weft.yaml
# The Helm chart (deploy/helm/weft) mounts its weft.yaml at /etc/weft/weft.yaml.
# test/src/deploy/dockerfile.test.ts runs these stages' COPY and RUN steps in clean folders and starts the
# result, so keep RUN steps to paths relative to WORKDIR.

# Build: every dependency (TypeScript included), then the packages Weft runs: protos, core, plugins.
FROM node:20-slim AS build
WORKDIR /src
COPY . .
# --ignore-scripts: the root prepare script builds every workspace (tests and benchmarks too); only the
# runtime packages are built here.
RUN npm ci --ignore-scripts --no-audit --no-fund
RUN npx tsc -b protos core plugins/*/ && node protos/dist/build-descriptor.js
# What the runtime stage needs: the lock file, each workspace's package.json (npm ci checks the lock
# against all of them) and the built output of the runtime packages, without their tests.
RUN mkdir -p out && cp package.json package-lock.json out/ && \
    for p in protos core plugins/* bench test; do \
      [ -f "$p/package.json" ] || continue; \
      mkdir -p "out/$p" && cp "$p/package.json" "out/$p/"; \
      case "$p" in bench|test) continue ;; esac; \
      for f in dist bin weft; do [ ! -e "$p/$f" ] || cp -R "$p/$f" "out/$p/"; done; \
    done && \
    find out -name '*.test.*' -delete && find out -name '*.tsbuildinfo' -delete

# Runtime: production dependencies only, no compiler, no sources.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /opt/weft
COPY --from=build /src/out/ ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
USER node
EXPOSE 15128 9091 9092 9443
# Exec form: node is PID 1 and gets SIGTERM itself; Weft handles it (a clean stop, log synced, exit 0).
ENTRYPOINT ["node", "/opt/weft/core/bin/weft.js", "start"]
CMD ["--config", "/etc/weft/weft.yaml"]
