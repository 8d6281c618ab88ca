/**
 * `connect()` and the [`PaindiaryClient`] it returns: REST login or enrolment, the token
 * kept in the app's session store, document discovery (index, care plan, months, the
 * canonical genesis of months the server does not hold yet), the patient's current month
 * and its roll-over at local midnight, typed validated writes, normalized reads, the
 * server's list of entries that need fixing, and a typed "session expired" event.
 */

import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  type DocHandle,
  type DocumentId,
  Repo,
  type StorageAdapterInterface,
} from "@automerge/automerge-repo/slim";

import {
  EntryNotFoundError,
  MonthUnavailableError,
  OfflineError,
  ReadOnlyDocumentError,
  ServerError,
  SessionExpiredError,
  SyncTimeoutError,
  UnknownFieldError,
  ValidationFailedError,
} from "./errors.js";
import { carePlanUrl, documentIdOf, indexUrl, monthUrl, uuidv7 } from "./ids.js";
import {
  type AfterFailure,
  type ConnectionStatus,
  PaindiaryNetworkAdapter,
  type RetryOptions,
  type WebSocketConstructor,
} from "./network.js";
import { type Answers, dueOn } from "./questionnaire.js";
import {
  type MonthEntries,
  kindMaps,
  readAssignments,
  readEntry,
  readFieldsLenient,
  readHeader,
  readIndex,
  readMonth,
  toPlain,
} from "./read.js";
import type { PatientDocuments, SavedSession, SessionStore } from "./session.js";
import { localDate, localMonth, nextLocalMidnight } from "./time.js";
import {
  type CheckinFields,
  type Entry,
  type ExerciseFields,
  type FieldsByKind,
  type MedicationFields,
  type PainFields,
  type QuestionnaireFields,
  type WellbeingFields,
  validateEntry,
} from "./validate.js";
import { type EntryKind, FIELDS_OF, LAZY_KINDS, MAP_KEYS, SCHEMA_TAGS } from "./vocab.js";

/** Where the client keeps documents and the session. */
export interface ClientStorage {
  /** automerge-repo document storage (IndexedDB, NodeFS, files); none keeps them in memory only. */
  documents?: StorageAdapterInterface;
  /** The token and discovery cache. */
  session: SessionStore;
}

/** Email and password of an enrolled patient. */
export interface Credentials {
  email: string;
  password: string;
  /** Shown in the patient's device list (default "paindiary app"). */
  deviceName?: string;
}

/** A one-time invitation code to redeem for a new patient account. */
export interface Enrolment extends Credentials {
  code: string;
}

/** Options of [`connect`]. */
export interface ConnectOptions {
  /** The server, e.g. `https://diary.example.org`. */
  baseUrl: string;
  /** Log in with these when there is no saved token (or it was refused). */
  credentials?: Credentials;
  /** Enrol with this invitation when there is no saved token. */
  enrolment?: Enrolment;
  /** Use this token (it is saved in the session store). */
  token?: string;
  /** Documents and session storage. */
  storage: ClientStorage;
  /** The WebSocket constructor; default the platform's, or `ws` on Node. */
  webSocket?: WebSocketConstructor;
  /** The fetch function; default the platform's. */
  fetch?: typeof fetch;
  /** Reconnect backoff. */
  retry?: RetryOptions;
  /** The clock (tests move it). */
  now?: () => Date;
}

/** The typed events of a [`PaindiaryClient`]. */
export interface ClientEvents {
  /** The token expired or was revoked (the server said 401 over REST): log in again. */
  "session-expired": { reason: "unauthorized"; serverMessage?: string };
  /** The connection's state changed. */
  status: ConnectionStatus;
  /** The patient's local month changed (at local midnight on the 1st). */
  "month-changed": { month: string; previous: string };
}

type Listener<T> = (payload: T) => void;

/** A reference to a written entry. */
export interface EntryRef {
  kind: EntryKind;
  id: string;
  /** The month document it is in (`YYYY-MM`). */
  month: string;
}

/** When and where an entry happened; default now, in the patient's time zone. */
export interface When {
  recorded_at?: Date;
  tz?: string;
}

/** An edit: fields to set, `null` to remove an optional one. */
export type EntryChanges<K extends EntryKind> = {
  [F in keyof FieldsByKind[K]]?: FieldsByKind[K][F] | null;
} & { recorded_at?: Date; tz?: string };

/** One problem the server found with an entry (`GET /patients/{id}/entry-issues`). */
export interface EntryIssue {
  document_id: string;
  month: string | null;
  kind: EntryKind;
  entry_key: string;
  /** `false`: the server could not read it at all (wrong types, missing fields, bad key). */
  readable: boolean;
  problems: { code: string; reason: string }[];
  first_seen_at: string;
  last_seen_at: string;
}

async function defaultWebSocket(): Promise<WebSocketConstructor> {
  if (typeof globalThis.WebSocket === "function") return globalThis.WebSocket as WebSocketConstructor;
  const ws = (await import("ws")) as unknown as { WebSocket: WebSocketConstructor };
  return ws.WebSocket;
}

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Values as the Rust SDK writes them: scalar strings, timestamps, numbers, booleans, lists
 * of scalar strings, and a questionnaire's `answers` as a new map of numbers.
 */
function toDoc(value: unknown): unknown {
  if (typeof value === "string") return new A.ImmutableString(value);
  if (Array.isArray(value)) return value.map(toDoc);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toDoc(v);
    return out;
  }
  return value;
}

/** Options of [`PaindiaryClient.answerQuestionnaire`]. */
export interface AnswerOptions {
  /** When the patient answered (default now). */
  at?: Date;
  /** The time zone it was answered in (default the patient's). */
  tz?: string;
  /** A free-text note, at most 4,000 characters. */
  note?: string;
}

/** The REST side, shared by `connect` and the client. */
class Rest {
  constructor(
    readonly baseUrl: string,
    readonly fetchFn: typeof fetch,
    public token: string | undefined,
  ) {}

  /** The JSON answer; `OfflineError` when the server cannot be reached; `ServerError` otherwise. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (e) {
      throw new OfflineError(`cannot reach ${this.baseUrl}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json ?? {}) as { code?: string; message?: string };
      if (res.status === 401 && this.token) throw new SessionExpiredError();
      throw new ServerError(res.status, err.code ?? `http_${res.status}`, err.message ?? res.statusText);
    }
    return json as T;
  }
}

interface LoginAnswer {
  token: string;
  expires_at: string;
  user: { id: string; patient_id?: string };
}

/**
 * Connects to a Paindiary server as a patient's device. With a saved session it opens at
 * once, offline too; otherwise it logs in (`credentials`), enrols (`enrolment`) or uses
 * `token`. Throws [`SessionExpiredError`] when the server refuses the token and no
 * credentials were given, [`OfflineError`] when it has never reached the server.
 */
export async function connect(opts: ConnectOptions): Promise<PaindiaryClient> {
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const store = opts.storage.session;
  const fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
  let saved = await store.load();
  if (saved && saved.baseUrl !== baseUrl) saved = null;
  const rest = new Rest(baseUrl, fetchFn, opts.token ?? saved?.token);

  const logIn = async (): Promise<boolean> => {
    const deviceName = (c: Credentials) => c.deviceName ?? "paindiary app";
    let answer: LoginAnswer;
    rest.token = undefined;
    if (opts.credentials) {
      const c = opts.credentials;
      answer = await rest.call<LoginAnswer>("POST", "/auth/login", { email: c.email, password: c.password, device_name: deviceName(c) });
    } else if (opts.enrolment) {
      const c = opts.enrolment;
      answer = await rest.call<LoginAnswer>("POST", "/enrol", { code: c.code, email: c.email, password: c.password, device_name: deviceName(c) });
    } else {
      return false;
    }
    rest.token = answer.token;
    saved = { baseUrl, token: answer.token, expiresAt: answer.expires_at };
    if (answer.user.patient_id) saved.patientId = answer.user.patient_id;
    await store.save(saved);
    return true;
  };

  if (!rest.token) {
    if (!(await logIn())) throw new SessionExpiredError("no saved session, token, credentials or enrolment: log in");
  } else if (!saved || saved.token !== rest.token) {
    saved = { baseUrl, token: rest.token };
    await store.save(saved);
  }

  const discover = async (): Promise<void> => {
    const s = saved!;
    if (!s.patientId) {
      const me = await rest.call<{ patient_id?: string }>("GET", "/me");
      if (!me.patient_id) throw new ServerError(403, "not_a_patient", "this account is not a patient's: the client kit is for patients' devices");
      s.patientId = me.patient_id;
    }
    const patient = await rest.call<{ timezone: string }>("GET", `/patients/${s.patientId}`);
    s.timezone = patient.timezone;
    s.documents = await rest.call<PatientDocuments>("GET", `/patients/${s.patientId}/documents`);
    await store.save(s);
  };

  try {
    await discover();
  } catch (e) {
    if (e instanceof SessionExpiredError) {
      await store.clear();
      if (!(await logIn())) throw e;
      await discover();
    } else if (e instanceof OfflineError) {
      if (!saved?.documents || !saved.timezone || !saved.patientId) {
        throw new OfflineError(`the first connection needs the server: ${e.message}`);
      }
    } else {
      throw e;
    }
  }
  const webSocket = opts.webSocket ?? (await defaultWebSocket());
  return new PaindiaryClient(rest, saved!, store, opts, webSocket);
}

/** A patient's device connected to the server (or working offline). Make it with [`connect`]. */
export class PaindiaryClient {
  /** The automerge-repo `Repo` (an escape hatch; writes through it are not validated). */
  readonly repo: Repo;
  readonly #rest: Rest;
  #session: SavedSession;
  readonly #store: SessionStore;
  readonly #network: PaindiaryNetworkAdapter;
  readonly #now: () => Date;
  readonly #listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  readonly #months = new Map<string, Promise<DocHandle<unknown>>>();
  readonly #theirHeads = new Map<string, string[]>();
  readonly #headWaiters = new Set<() => void>();
  #rollover: ReturnType<typeof setTimeout> | undefined;
  #month: string;
  #expired = false;
  #closed = false;
  #status: ConnectionStatus = { state: "connecting", attempt: 0 };

  /** @internal Use [`connect`]. */
  constructor(rest: Rest, session: SavedSession, store: SessionStore, opts: ConnectOptions, webSocket: WebSocketConstructor) {
    this.#rest = rest;
    this.#session = session;
    this.#store = store;
    this.#now = opts.now ?? (() => new Date());
    const syncUrl = () => {
      const path = session.documents?.sync_url ?? "/sync";
      return `${rest.baseUrl.replace(/^http/, "ws")}${path}?token=${encodeURIComponent(rest.token ?? "")}`;
    };
    this.#network = new PaindiaryNetworkAdapter({
      url: syncUrl,
      webSocket,
      retry: opts.retry ?? {},
      afterFailure: (serverMessage) => this.#afterFailure(serverMessage),
      onStatus: (status) => {
        this.#status = status;
        this.#emit("status", status);
      },
    });
    const repoConfig: ConstructorParameters<typeof Repo>[0] = { network: [this.#network] };
    if (opts.storage.documents) repoConfig.storage = opts.storage.documents;
    this.repo = new Repo(repoConfig);
    this.repo.synchronizer.on("sync-state", ({ documentId, syncState }) => {
      if (syncState.theirHeads) this.#theirHeads.set(documentId, syncState.theirHeads);
      for (const w of [...this.#headWaiters]) w();
    });
    this.#month = localMonth(this.#now(), this.timezone);
    this.#scheduleRollover();
  }

  /** The patient's UUID. */
  get patientId(): string {
    return this.#session.patientId!;
  }

  /** The patient's IANA time zone (entries default to it). */
  get timezone(): string {
    return this.#session.timezone!;
  }

  /** The patient's current local month (`YYYY-MM`). */
  get currentMonth(): string {
    return this.#month;
  }

  /** The connection's last reported state. */
  get status(): ConnectionStatus {
    return this.#status;
  }

  /** The documents the server listed at the last discovery. */
  get documents(): PatientDocuments | undefined {
    return this.#session.documents;
  }

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof ClientEvents>(event: E, listener: Listener<ClientEvents[E]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set!.delete(listener as Listener<never>);
  }

  #emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as Listener<ClientEvents[E]>)(payload);
      } catch {
        // An app's listener must not break the kit's state.
      }
    }
  }

  /** After a refused or dropped socket: a 401 over REST ends the session, anything else retries. */
  async #afterFailure(serverMessage: string | undefined): Promise<AfterFailure> {
    if (this.#closed || this.#expired) return "stop";
    try {
      await this.#rest.call("GET", "/me");
      return "retry";
    } catch (e) {
      if (e instanceof SessionExpiredError) {
        this.#expired = true;
        await this.#store.clear().catch(() => undefined);
        const payload: ClientEvents["session-expired"] = { reason: "unauthorized" };
        if (serverMessage !== undefined) payload.serverMessage = serverMessage;
        this.#emit("session-expired", payload);
        return "stop";
      }
      return "retry";
    }
  }

  #scheduleRollover(): void {
    if (this.#closed) return;
    const now = this.#now();
    const delay = Math.max(1000, nextLocalMidnight(now, this.timezone).getTime() - now.getTime());
    this.#rollover = setTimeout(() => {
      const month = localMonth(this.#now(), this.timezone);
      if (month !== this.#month) {
        const previous = this.#month;
        this.#month = month;
        this.#emit("month-changed", { month, previous });
        // Learn the new next month's genesis while online; offline, the cached one serves.
        void this.refreshDocuments().catch(() => undefined);
      }
      this.#scheduleRollover();
    }, Math.min(delay, 2 ** 31 - 1));
    (this.#rollover as { unref?: () => void }).unref?.();
  }

  /** Asks the server again for the patient's documents (new months, genesis). */
  async refreshDocuments(): Promise<PatientDocuments> {
    const docs = await this.#rest.call<PatientDocuments>("GET", `/patients/${this.patientId}/documents`);
    this.#session.documents = docs;
    await this.#store.save(this.#session);
    return docs;
  }

  /** The `automerge:` URL of `month` (`YYYY-MM`), derived offline. */
  monthUrl(month: string): AutomergeUrl {
    return monthUrl(this.patientId, month);
  }

  /** Which read-only document `url` is, if any. */
  #readOnly(url: string): "care_plan" | "index" | undefined {
    const id = documentIdOf(url);
    if (id === documentIdOf(carePlanUrl(this.patientId))) return "care_plan";
    if (id === documentIdOf(indexUrl(this.patientId))) return "index";
    return undefined;
  }

  /**
   * The month document's handle: from this device's storage if it opened the month
   * before, else started from the server's canonical genesis (offline too, once
   * discovered), else fetched from the server.
   */
  month(month: string = this.#month): Promise<DocHandle<unknown>> {
    let handle = this.#months.get(month);
    if (!handle) {
      handle = this.#openMonth(month);
      this.#months.set(month, handle);
      handle.catch(() => this.#months.delete(month));
    }
    return handle;
  }

  async #openMonth(month: string): Promise<DocHandle<unknown>> {
    const url = this.monthUrl(month);
    const listed = this.#session.documents?.months.find((m) => m.month === month);
    if (listed && listed.url !== url) {
      throw new MonthUnavailableError(month, "the server lists another document for it than the schema derives");
    }
    const local = this.#session.localMonths?.includes(month) ?? false;
    const genesis = this.#session.documents?.genesis[month];
    let handle: DocHandle<unknown>;
    if (!local && genesis !== undefined) {
      // docs/schema.md: a new month starts from the canonical genesis so that every
      // device shares its root maps; the server's entries merge in on the next sync.
      handle = this.repo.import<unknown>(base64ToBytes(genesis), { docId: documentIdOf(url) as DocumentId });
      await handle.whenReady();
    } else {
      try {
        handle = await this.repo.find<unknown>(url, { signal: AbortSignal.timeout(30_000) });
      } catch (e) {
        throw new MonthUnavailableError(month, `neither on this device nor obtainable from the server now (${(e as Error).message})`);
      }
    }
    const header = readHeader(handle.doc());
    if (header.schema !== SCHEMA_TAGS.month || header.patient !== this.patientId || header.month !== month) {
      throw new MonthUnavailableError(month, "its header does not name this patient's month");
    }
    if (!local && this.repoHasStorage) {
      this.#session.localMonths = [...(this.#session.localMonths ?? []), month];
      await this.#store.save(this.#session);
    }
    return handle;
  }

  /** Whether documents are kept in storage (so a month opened once opens offline). */
  get repoHasStorage(): boolean {
    return (this.repo as unknown as { storageSubsystem?: unknown }).storageSubsystem !== undefined;
  }

  /** Every entry of `month` (default the current one), read from every conflicting map. */
  async entries(month: string = this.#month): Promise<MonthEntries> {
    const handle = await this.month(month);
    const read = readMonth(handle.doc() as A.Doc<unknown>);
    for (const e of read.entries) e.month = month;
    return read;
  }

  /** Entries of `month` that are not deleted (what a patient's list shows). */
  async liveEntries(month: string = this.#month): Promise<MonthEntries["entries"]> {
    return (await this.entries(month)).entries.filter((e) => e.entry.deleted_at === undefined);
  }

  async #add<K extends EntryKind>(kind: K, fields: FieldsByKind[K] & When): Promise<EntryRef> {
    const entry = {
      ...fields,
      kind,
      recorded_at: fields.recorded_at ?? this.#now(),
      tz: fields.tz ?? this.timezone,
    } as Entry;
    if (entry.kind === "medication") {
      entry.status ??= "taken";
      entry.prn ??= false;
    }
    const allowed = new Set(["kind", "recorded_at", "tz", ...FIELDS_OF[kind]]);
    for (const key of Object.keys(entry) as (keyof Entry)[]) {
      if (entry[key] === undefined) delete entry[key];
      else if (!allowed.has(key)) throw new UnknownFieldError(kind, key);
    }
    const errors = validateEntry(entry, this.#now());
    if (errors.length > 0) throw new ValidationFailedError(errors);
    const month = localMonth(entry.recorded_at, entry.tz);
    const handle = await this.month(month);
    const id = uuidv7(this.#now().getTime());
    const { kind: _kind, ...stored } = entry;
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stored)) values[k] = toDoc(v);
    let missing = false;
    handle.change((d) => {
      let map = kindMaps(d as A.Doc<unknown>, MAP_KEYS[kind])[0];
      if (!map && LAZY_KINDS.includes(kind)) {
        // Kinds added after schema v1's genesis (`questionnaires`) are not in the genesis
        // change: the first writer creates the map. Two devices doing so offline make two
        // maps under one key; readers read both (`kindMaps`), so nothing is hidden.
        (d as Record<string, unknown>)[MAP_KEYS[kind]] = {};
        map = (d as Record<string, Record<string, unknown>>)[MAP_KEYS[kind]];
      }
      if (!map) {
        missing = true;
        return;
      }
      map[id] = values;
    }, { time: Math.floor(this.#now().getTime() / 1000) });
    if (missing) throw new MonthUnavailableError(month, `the document has no \`${MAP_KEYS[kind]}\` map (was it created from the canonical genesis?)`);
    return { kind, id, month };
  }

  /** Logs a pain score (NRS 0-10) with optional worst/least, locations, qualities, notes. */
  addPain(fields: PainFields & When): Promise<EntryRef> {
    return this.#add("pain", fields);
  }

  /** Logs a medication intake (taken unless `status: "skipped"`). */
  addMedication(fields: MedicationFields & When): Promise<EntryRef> {
    return this.#add("medication", fields);
  }

  /** Logs an exercise session. */
  addExercise(fields: ExerciseFields & When): Promise<EntryRef> {
    return this.#add("exercise", fields);
  }

  /** Logs sleep, mood and stress (at least one). */
  addWellbeing(fields: WellbeingFields & When): Promise<EntryRef> {
    return this.#add("wellbeing", fields);
  }

  /** Logs the weekly PEG check-in. */
  checkin(fields: CheckinFields & When): Promise<EntryRef> {
    return this.#add("checkin", fields);
  }

  /**
   * Logs a response to a validated questionnaire (`phq9`, `gad7` or `peg`, version `"1"`):
   * `answers` maps item link IDs (see `PHQ9.items` etc.) to whole-number answers on the
   * item's scale; unanswered items are left out. Refuses, writing nothing, an unknown
   * instrument or version (`unknown_instrument`), an unknown item (`unknown_item`), an
   * answer off the scale (`invalid_answer`) or no answer at all (`no_answers`), with a
   * [`ValidationFailedError`], as the Rust SDK does. The first response of a month creates
   * the month's `questionnaires` map.
   *
   * @example
   * await client.answerQuestionnaire("gad7", "1", { "69725-0": 1, "68509-9": 0 }, { note: "ok week" });
   */
  answerQuestionnaire(instrument: string, version: string, answers: Answers, options: AnswerOptions = {}): Promise<EntryRef> {
    const fields: QuestionnaireFields & When = { instrument, version, answers: { ...answers } };
    if (options.note !== undefined) fields.note = options.note;
    if (options.at !== undefined) fields.recorded_at = options.at;
    if (options.tz !== undefined) fields.tz = options.tz;
    return this.#add("questionnaire", fields);
  }

  /**
   * The questionnaires the care plan assigns that are due on the patient's local `day`
   * (`YYYY-MM-DD`, default today in the patient's time zone): those whose current period
   * has no live response yet, in the care plan's order (Rust `Replica::due_questionnaires`).
   * Works offline from the care plan and the months on this device; empty when the care
   * plan cannot be had (never synced and offline) or assigns nothing.
   */
  async dueQuestionnaires(day: string = localDate(this.#now(), this.timezone)): Promise<string[]> {
    let plan: unknown;
    try {
      const handle = await this.repo.find<unknown>(carePlanUrl(this.patientId), { signal: AbortSignal.timeout(30_000) });
      plan = handle.doc();
    } catch {
      return [];
    }
    const { assignments } = readAssignments(plan);
    if (assignments.length === 0) return [];
    const months = new Set([...(this.#session.localMonths ?? []), ...this.#months.keys()]);
    const answered: { instrument: string; day: string }[] = [];
    for (const month of [...months].sort()) {
      let read: MonthEntries;
      try {
        read = await this.entries(month);
      } catch {
        continue;
      }
      for (const { entry } of read.entries) {
        if (entry.kind !== "questionnaire" || entry.deleted_at !== undefined) continue;
        try {
          answered.push({ instrument: entry.instrument, day: localDate(entry.recorded_at, entry.tz) });
        } catch {
          // A response with an unknown time zone has no local day (Rust skips it too).
        }
      }
    }
    return dueOn(assignments, answered, day);
  }

  async #locate(ref: Pick<EntryRef, "kind" | "id"> & { month?: string }): Promise<{ handle: DocHandle<unknown>; month: string }> {
    const months = ref.month ? [ref.month] : [...this.#months.keys()];
    for (const month of months) {
      const handle = await this.month(month);
      if (kindMaps(handle.doc() as A.Doc<unknown>, MAP_KEYS[ref.kind]).some((m) => Object.hasOwn(m, ref.id))) {
        return { handle, month };
      }
    }
    throw new EntryNotFoundError(ref.kind, ref.id);
  }

  /**
   * Edits an entry field by field (`null` removes an optional field) and sets
   * `updated_at`; the edited entry must still be valid, otherwise nothing is written.
   * Concurrent edits of other fields on other devices survive the merge.
   */
  async edit<K extends EntryKind>(ref: { kind: K; id: string; month?: string }, changes: EntryChanges<K>): Promise<void> {
    const allowed = new Set([...FIELDS_OF[ref.kind], "recorded_at", "tz"]);
    for (const field of Object.keys(changes)) if (!allowed.has(field)) throw new UnknownFieldError(ref.kind, field);
    const { handle } = await this.#locate(ref);
    const now = this.#now();
    const doc = handle.doc() as A.Doc<unknown>;
    const map = kindMaps(doc, MAP_KEYS[ref.kind]).find((m) => Object.hasOwn(m, ref.id))!;
    // An entry that cannot be read (the server lists it as needing fixing) is edited from
    // the fields that can be: supplying the wrong or missing ones makes it whole.
    let current: Record<string, unknown>;
    try {
      current = { ...readEntry(map[ref.id], ref.kind) };
    } catch {
      current = readFieldsLenient(map[ref.id], ref.kind);
    }
    const edited: Record<string, unknown> = { ...current, updated_at: now };
    for (const [field, value] of Object.entries(changes)) {
      if (value === null || value === undefined) delete edited[field];
      else edited[field] = value;
    }
    const errors = validateEntry(edited as unknown as Entry, now);
    if (errors.length > 0) throw new ValidationFailedError(errors);
    handle.change((d) => {
      const target = kindMaps(d as A.Doc<unknown>, MAP_KEYS[ref.kind]).find((m) => Object.hasOwn(m, ref.id));
      const entry = target?.[ref.id] as Record<string, unknown> | undefined;
      if (!entry) return;
      for (const [field, value] of Object.entries(changes)) {
        if (value === null || value === undefined) delete entry[field];
        else entry[field] = toDoc(value);
      }
      entry.updated_at = now;
    }, { time: Math.floor(now.getTime() / 1000) });
  }

  /** Deletes an entry: a `deleted_at` tombstone (entries are never removed). */
  async delete(ref: { kind: EntryKind; id: string; month?: string }): Promise<void> {
    const { handle } = await this.#locate(ref);
    const now = this.#now();
    handle.change((d) => {
      const target = kindMaps(d as A.Doc<unknown>, MAP_KEYS[ref.kind]).find((m) => Object.hasOwn(m, ref.id));
      const entry = target?.[ref.id] as Record<string, unknown> | undefined;
      if (!entry) return;
      entry.deleted_at = now;
      entry.updated_at = now;
    }, { time: Math.floor(now.getTime() / 1000) });
  }

  /**
   * Changes a month document with raw Automerge writes, without validation (imports,
   * tests). Refuses the care plan and the index: the server never applies a device's
   * changes to them, so such a write would only diverge this device.
   */
  async changeDocument(url: string, change: (doc: Record<string, unknown>) => void): Promise<void> {
    const readOnly = this.#readOnly(url);
    if (readOnly) throw new ReadOnlyDocumentError(readOnly);
    const handle = await this.repo.find<Record<string, unknown>>(url as AutomergeUrl);
    const header = readHeader(handle.doc());
    if (header.schema !== SCHEMA_TAGS.month) {
      throw new ReadOnlyDocumentError(header.schema === SCHEMA_TAGS.carePlan ? "care_plan" : "index");
    }
    handle.change((d) => change(d as Record<string, unknown>));
  }

  /** The care plan as plain data (read-only: the care team writes it). */
  async carePlan(): Promise<Record<string, unknown>> {
    const handle = await this.repo.find<unknown>(carePlanUrl(this.patientId), { signal: AbortSignal.timeout(30_000) });
    return toPlain(handle.doc()) as Record<string, unknown>;
  }

  /** The index: which months exist (URLs as plain strings), and the care plan's URL. */
  async index(): Promise<{ carePlan?: string; months: Record<string, string> }> {
    const handle = await this.repo.find<unknown>(indexUrl(this.patientId), { signal: AbortSignal.timeout(30_000) });
    return readIndex(handle.doc());
  }

  /** The entries the server found invalid or could not read, with reasons ("needs fixing"). */
  async entryIssues(): Promise<EntryIssue[]> {
    const answer = await this.#rest.call<{ issues: EntryIssue[] }>("GET", `/patients/${this.patientId}/entry-issues`);
    return answer.issues;
  }

  #untilHeads(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new SyncTimeoutError(`${what} within ${timeoutMs} ms (${this.#status.state}); nothing is lost, it syncs when it can`));
      }, timeoutMs);
      const tick = setInterval(check, 100);
      const cleanup = () => {
        clearTimeout(timer);
        clearInterval(tick);
        this.#headWaiters.delete(check);
      };
      this.#headWaiters.add(check);
      check();
    });
  }

  /**
   * Waits until the server has every change of the months opened on this device and this
   * device has every change the server reported for them. Rejects with
   * [`SyncTimeoutError`] after `timeoutMs` (and at once after the session expired).
   */
  async sync({ timeoutMs = 30_000 }: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#expired) throw new SessionExpiredError();
    const handles = await Promise.all([...this.#months.values()]);
    await this.#untilHeads(
      () =>
        handles.every((h) => {
          const theirs = this.#theirHeads.get(h.documentId);
          if (!theirs) return false;
          const set = new Set(theirs);
          const doc = h.doc() as A.Doc<unknown>;
          return A.getHeads(doc).every((x) => set.has(x)) && A.hasHeads(doc, theirs);
        }),
      timeoutMs,
      "the server did not confirm every change",
    );
  }

  /** Logs out: revokes the token on the server (when reachable), forgets it, closes. */
  async logout(): Promise<void> {
    await this.#rest.call("POST", "/auth/logout").catch(() => undefined);
    await this.#store.clear();
    await this.close();
  }

  /** Stops syncing and timers, and writes everything pending to storage. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#rollover) clearTimeout(this.#rollover);
    this.#network.disconnect();
    await this.repo.shutdown();
  }
}


