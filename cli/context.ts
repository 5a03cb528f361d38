/** Connections the CLI commands share, opened lazily and closed once at exit. */
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type ProjectConfig } from '../config';
import { ObjectStore } from '../store/objectStore';

export class CliError extends Error {}

export class CliContext {
  readonly config: ProjectConfig = loadConfig();
  private connection?: Connection;
  private client?: Client;
  private objectStore?: ObjectStore;

  async temporal(): Promise<Client> {
    if (!this.client) {
      try {
        this.connection = await Connection.connect({ address: this.config.temporal.address, connectTimeout: 5000 });
      } catch {
        throw new CliError(`Cannot reach Temporal at ${this.config.temporal.address}; start it with \`npm run services:start\` or set TEMPORAL_ADDRESS.`);
      }
      this.client = new Client({ connection: this.connection, namespace: this.config.temporal.namespace });
    }
    return this.client;
  }

  store(): ObjectStore {
    this.objectStore ??= new ObjectStore(this.config.minio);
    return this.objectStore;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
