# CPU worker: workflows, light activities, or accelerator activities on native CPU TensorFlow.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# With internet access tfjs-node's own installer fetches libtensorflow; scripts/setup-tf.ts falls back to the pip wheel.
RUN npm ci --no-audit --no-fund || (npm ci --ignore-scripts --no-audit --no-fund && npm rebuild protobufjs @swc/core)
COPY . .
RUN npx tsx -e "import('./scripts/setup-tf.ts').then((m) => m.setupTensorflow('cpu'))"
CMD ["npx", "tsx", "worker.ts"]
