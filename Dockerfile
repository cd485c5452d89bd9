# One image for every role: `node dist/main/api.js`, `node dist/main/worker.js`, `node dist/main/simulator.js`, `node dist/main/migrate.js` (docker-compose.yml).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The heap cap package.json's config.heapMb gives the npm scripts: keeps each process well under 512 MB RSS.
ENV NODE_OPTIONS=--max-old-space-size=256
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
USER node
EXPOSE 4080
CMD ["node", "dist/main/api.js"]
