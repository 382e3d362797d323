FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build
CMD ["node", "bin/zretry.js", "worker"]
