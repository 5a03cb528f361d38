# GPU worker: @tensorflow/tfjs-node-gpu 4.22 links libtensorflow 2.9.1, built for CUDA 11.2 and cuDNN 8.1.
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates python3 make g++ \
  && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# ONNX Runtime (--engine onnx) stays on the CPU: its CUDA provider needs CUDA 12 + cuDNN 9, not this image's 11.2.
ENV TF_BACKEND=gpu ONNX_PROVIDER=cpu
CMD ["npx", "tsx", "worker.ts"]
