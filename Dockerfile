# One image for every role; ROLE (api | worker | projector | all) picks what the process starts.
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first so a source change does not reinstall them. tsx is a runtime dependency: the
# service runs its TypeScript directly (`npm start` = `tsx src/main.ts`).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# tsconfig.json is read by tsx at run time (JSX import source of the console pages).
COPY tsconfig.json ./
COPY src ./src

# Without DATABASE_URL the service keeps an embedded PostgreSQL under DATA_DIR; it must be writable by `node`.
RUN mkdir -p /app/data && chown node:node /app/data
USER node

ENV PORT=8080 \
    ROLE=all \
    DATA_DIR=/app/data
EXPOSE 8080

CMD ["npm", "start"]
