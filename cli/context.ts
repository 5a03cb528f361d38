/** Connections the CLI commands share, opened lazily (after every option is checked) and closed once at exit. */
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type ProjectConfig } from '../config';
import { ObjectStore } from '../store/objectStore';

/** A runtime failure the user can act on (unknown run, service unreachable …): one `error:` line, exit 1. */
export class CliError extends Error {}

/** Bad command-line input found after parsing (a combination of options, a missing folder): one line, exit 2. */
export class UsageError extends Error {}

export class CliContext {
  private settings?: ProjectConfig;
  private connection?: Connection;
  private client?: Client;
  private objectStore?: ObjectStore;

  /** Read on first use, so `--help` works whatever the environment says. */
  get config(): ProjectConfig {
    this.settings ??= loadConfig();
    return this.settings;
  }

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

  /** The Temporal UI page of a run. */
  uiUrl(workflowId: string): string {
    const host = this.config.temporal.address.split(':')[0];
    return `http://${host}:${this.config.temporal.uiPort}/namespaces/${this.config.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
