/**
 * A small typed client for the parts of Label Studio's REST API (1.23) this project uses.
 * Every failure is one `LabelStudioError` naming the method, the endpoint and the HTTP status;
 * the token is sent only in the `Authorization` header and never appears in a message.
 */
import type {
  LsAnnotation, LsPrediction, LsPredictionInput, LsProject, LsResult, LsTask, LsWebhook, LsWebhookAction,
} from './types';

export class LabelStudioError extends Error {
  constructor(message: string, readonly endpoint: string, readonly status?: number) {
    super(message);
  }
}

export interface LabelStudioClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** An API token of Label Studio's classic kind (`Authorization: Token …`, enabled by its LEGACY_API_TOKEN setting). */
  token: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
}

export interface EnsureProjectResult {
  project: LsProject;
  created: boolean;
  /** An existing project's label config differed and was replaced. */
  configUpdated: boolean;
}

export interface WebhookSpec {
  projectId: number;
  url: string;
  /** Sent with every delivery, e.g. a shared secret. Names: letters, digits, '-' and '_'; at most 10. */
  headers: Record<string, string>;
  actions: LsWebhookAction[];
}

export interface AnnotationInput {
  result: LsResult[];
  /** Seconds. */
  leadTime?: number;
  /** A skipped task. */
  wasCancelled?: boolean;
}

interface Page<T> {
  count: number;
  next: string | null;
  results: T[];
}

/** Items per request when importing tasks: keeps each request body and transaction moderate. */
const IMPORT_CHUNK = 500;

export class LabelStudioClient {
  readonly url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: LabelStudioClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async #request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const endpoint = `${method} ${path.split('?')[0]}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (auth) headers.Authorization = `Token ${this.#token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${this.#timeoutMs / 1000} s`
        : `${(error as Error).message}${(error as { cause?: Error }).cause ? ` (${(error as { cause: Error }).cause.message})` : ''}`;
      throw new LabelStudioError(`Label Studio at ${this.url}: ${endpoint} failed: ${reason}`, endpoint);
    }
    const text = await response.text();
    if (!response.ok) {
      const hint = response.status === 401 ? ' (wrong or missing API token; Label Studio must accept classic API tokens)' : '';
      throw new LabelStudioError(`Label Studio at ${this.url}: ${endpoint} answered ${response.status}${hint}: ${summarise(text)}`, endpoint, response.status);
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LabelStudioError(`Label Studio at ${this.url}: ${endpoint} answered ${response.status} with a body that is not JSON: ${summarise(text)}`, endpoint, response.status);
    }
  }

  /** Version of a healthy server (`GET /health`, then `GET /api/version/`); throws when it is not up. */
  async health(): Promise<{ version: string }> {
    const health = await this.#request<{ status?: string }>('GET', '/health', undefined, false);
    if (health?.status !== 'UP') throw new LabelStudioError(`Label Studio at ${this.url}: GET /health says ${JSON.stringify(health)}`, 'GET /health');
    const version = await this.#request<{ release?: string }>('GET', '/api/version/', undefined, false);
    return { version: version?.release ?? 'unknown' };
  }

  /** The user the token belongs to (`GET /api/current-user/whoami`): proves the token works. */
  whoami(): Promise<{ id: number; email: string }> {
    return this.#request('GET', '/api/current-user/whoami');
  }

  /**
   * The project with exactly this title, created when absent. An existing project whose label config differs
   * gets this one (Label Studio refuses the change when existing annotations use a label it would drop).
   */
  async ensureProject(spec: { title: string; labelConfig: string; description?: string }): Promise<EnsureProjectResult> {
    const existing = await this.findProject(spec.title);
    if (!existing) {
      const project = await this.#request<LsProject>('POST', '/api/projects/', {
        title: spec.title,
        label_config: spec.labelConfig,
        description: spec.description ?? '',
        // A doctor cannot submit an annotation without regions (it would carry no mask).
        enable_empty_annotation: false,
      });
      return { project, created: true, configUpdated: false };
    }
    if (existing.label_config === spec.labelConfig) return { project: existing, created: false, configUpdated: false };
    const project = await this.#request<LsProject>('PATCH', `/api/projects/${existing.id}/`, { label_config: spec.labelConfig });
    return { project, created: false, configUpdated: true };
  }

  /** The project with exactly this title (Label Studio's own filter matches substrings, case-insensitively). */
  async findProject(title: string): Promise<LsProject | undefined> {
    for (let page = 1; ; page++) {
      const result = await this.#request<Page<LsProject>>('GET', `/api/projects/?title=${encodeURIComponent(title)}&page=${page}&page_size=100`);
      const match = result.results.find((p) => p.title === title);
      if (match) return match;
      if (!result.next) return undefined;
    }
  }

  /**
   * Imports tasks (each `{ data, predictions? }`) and returns their ids in the order given
   * (`POST /api/projects/<id>/import?return_task_ids=true`, in chunks).
   */
  async importTasks(projectId: number, tasks: { data: object; predictions?: LsPredictionInput[] }[]): Promise<number[]> {
    const ids: number[] = [];
    for (let start = 0; start < tasks.length; start += IMPORT_CHUNK) {
      const chunk = tasks.slice(start, start + IMPORT_CHUNK);
      const answer = await this.#request<{ task_count: number; task_ids?: number[] }>(
        'POST', `/api/projects/${projectId}/import?return_task_ids=true`, chunk);
      if (!answer.task_ids || answer.task_ids.length !== chunk.length) {
        throw new LabelStudioError(`Label Studio at ${this.url}: POST /api/projects/${projectId}/import created ${answer.task_count} of ${chunk.length} tasks`, 'POST /api/projects/<id>/import');
      }
      ids.push(...answer.task_ids);
    }
    return ids;
  }

  /** `POST /api/predictions/`. */
  createPrediction(taskId: number, prediction: LsPredictionInput): Promise<LsPrediction> {
    return this.#request('POST', '/api/predictions/', { task: taskId, ...prediction });
  }

  /** One page of a project's tasks with their annotations and predictions (`GET /api/tasks/?project=…&fields=all`). */
  async tasksPage<Data = Record<string, unknown>>(projectId: number, page: number, pageSize = 100): Promise<{ total: number; tasks: LsTask<Data>[] }> {
    return this.#request('GET', `/api/tasks/?project=${projectId}&fields=all&page=${page}&page_size=${pageSize}`);
  }

  /** Every task of a project with annotations and predictions, paged (Label Studio answers 404 past the last page). */
  async listTasks<Data = Record<string, unknown>>(projectId: number, pageSize = 100): Promise<LsTask<Data>[]> {
    const tasks: LsTask<Data>[] = [];
    for (let page = 1; ; page++) {
      const answer = await this.tasksPage<Data>(projectId, page, pageSize);
      tasks.push(...answer.tasks);
      if (answer.tasks.length === 0 || tasks.length >= answer.total) return tasks;
    }
  }

  /** `GET /api/annotations/<id>/`. */
  getAnnotation(annotationId: number): Promise<LsAnnotation> {
    return this.#request('GET', `/api/annotations/${annotationId}/`);
  }

  /** `POST /api/tasks/<id>/annotations/`, as the token's user. */
  createAnnotation(taskId: number, input: AnnotationInput): Promise<LsAnnotation> {
    return this.#request('POST', `/api/tasks/${taskId}/annotations/`, {
      result: input.result,
      ...(input.leadTime !== undefined ? { lead_time: input.leadTime } : {}),
      ...(input.wasCancelled ? { was_cancelled: true } : {}),
    });
  }

  /** A project's webhooks (`GET /api/webhooks/?project=<id>`). */
  listWebhooks(projectId: number): Promise<LsWebhook[]> {
    return this.#request('GET', `/api/webhooks/?project=${projectId}`);
  }

  /** `POST /api/webhooks/`: only the chosen actions, with the payload. */
  createWebhook(spec: WebhookSpec): Promise<LsWebhook> {
    checkHeaders(spec.headers);
    return this.#request('POST', '/api/webhooks/', {
      project: spec.projectId, url: spec.url, headers: spec.headers,
      send_payload: true, send_for_all_actions: false, actions: spec.actions, is_active: true,
    });
  }

  /**
   * The project's webhook to this URL with these headers and actions: reused when identical, updated when
   * not, created when absent. (A PATCH without `actions` clears them, so they are always sent.)
   */
  async ensureWebhook(spec: WebhookSpec): Promise<{ webhook: LsWebhook; change: 'created' | 'updated' | 'unchanged' }> {
    checkHeaders(spec.headers);
    const existing = (await this.listWebhooks(spec.projectId)).find((w) => w.url === spec.url && w.project === spec.projectId);
    if (!existing) return { webhook: await this.createWebhook(spec), change: 'created' };
    const same = existing.is_active && existing.send_payload && !existing.send_for_all_actions
      && sameRecord(existing.headers, spec.headers) && [...existing.actions].sort().join() === [...spec.actions].sort().join();
    if (same) return { webhook: existing, change: 'unchanged' };
    const webhook = await this.#request<LsWebhook>('PATCH', `/api/webhooks/${existing.id}/`, {
      headers: spec.headers, actions: spec.actions, send_payload: true, send_for_all_actions: false, is_active: true,
    });
    return { webhook, change: 'updated' };
  }

  /**
   * `POST /api/ml/`: connects an ML backend ("Model" in the project settings) with Basic auth; Label Studio checks
   * it on the spot (GET /health, POST /setup) and refuses one that does not answer.
   */
  connectModel(spec: { projectId: number; url: string; title: string; user: string; password: string }): Promise<{ id: number; state: string; url: string }> {
    return this.#request('POST', '/api/ml/', {
      project: spec.projectId, url: spec.url, title: spec.title, is_interactive: false,
      auth_method: 'BASIC_AUTH', basic_auth_user: spec.user, basic_auth_pass: spec.password,
    });
  }

  /** `POST /api/ml/{id}/predict/test?random=true`: Label Studio asks the ML backend to predict one of the project's tasks. */
  testModelPrediction(mlBackendId: number): Promise<{ status: number; error_message?: string | null; response?: unknown; task?: { id: number } }> {
    return this.#request('POST', `/api/ml/${mlBackendId}/predict/test?random=true`, {});
  }
}

function checkHeaders(headers: Record<string, string>): void {
  const names = Object.keys(headers);
  if (names.length > 10) throw new LabelStudioError(`a Label Studio webhook takes at most 10 headers, not ${names.length}`, 'webhook headers');
  const bad = names.find((n) => !/^[a-zA-Z0-9_-]+$/.test(n));
  if (bad !== undefined) throw new LabelStudioError(`webhook header name '${bad}' may hold only letters, digits, '-' and '_'`, 'webhook headers');
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function summarise(text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: unknown; validation_errors?: unknown };
    const parts = [body.detail, body.validation_errors].filter((p) => p !== undefined).map((p) => (typeof p === 'string' ? p : JSON.stringify(p)));
    if (parts.length) return parts.join(' ').slice(0, 500);
  } catch {
    // not JSON: show the start of the text
  }
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat || '(empty body)';
}
