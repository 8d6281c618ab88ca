/**
 * Where the kit keeps the device token and what it learnt from the server (patient, time
 * zone, document URLs, genesis of months not yet stored), so the app opens offline next
 * time. The app supplies the store: the platform's secure storage on a phone.
 */

/** A month as `GET /patients/{id}/documents` lists it. */
export interface MonthRef {
  month: string;
  document_id: string;
  url: string;
  stored: boolean;
}

/** The answer of `GET /patients/{id}/documents`. */
export interface PatientDocuments {
  patient_id: string;
  index: { document_id: string; url: string };
  care_plan: { document_id: string; url: string };
  months: MonthRef[];
  /** Base64 canonical genesis of each listed month the server does not hold yet. */
  genesis: Record<string, string>;
  sync_url: string;
}

/** Everything the kit keeps between runs. JSON-serialisable. */
export interface SavedSession {
  /** The server it belongs to. */
  baseUrl: string;
  /** The device token (a secret: keep the store secure). */
  token: string;
  /** When the token expires (RFC 3339), as the server said. */
  expiresAt?: string;
  /** The patient. */
  patientId?: string;
  /** The patient's IANA time zone. */
  timezone?: string;
  /** The last discovery answer. */
  documents?: PatientDocuments;
  /** Months this device has opened (they are in its document storage). */
  localMonths?: string[];
}

/** The app's store for the [`SavedSession`]. */
export interface SessionStore {
  load(): Promise<SavedSession | null>;
  save(session: SavedSession): Promise<void>;
  clear(): Promise<void>;
}

/** A store kept in memory (tests, or apps that log in every time). */
export function memorySessionStore(): SessionStore {
  let saved: SavedSession | null = null;
  return {
    load: async () => (saved ? structuredClone(saved) : null),
    save: async (s) => {
      saved = structuredClone(s);
    },
    clear: async () => {
      saved = null;
    },
  };
}

/** Anything with `getItem`/`setItem`/`removeItem` (localStorage, React Native AsyncStorage, SecureStore wrappers). */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** A store under one key of a key-value storage. */
export function keyValueSessionStore(storage: KeyValueStorage, key = "paindiary.session"): SessionStore {
  return {
    load: async () => {
      const text = await storage.getItem(key);
      if (!text) return null;
      try {
        return JSON.parse(text) as SavedSession;
      } catch {
        return null;
      }
    },
    save: async (s) => {
      await storage.setItem(key, JSON.stringify(s));
    },
    clear: async () => {
      await storage.removeItem(key);
    },
  };
}
