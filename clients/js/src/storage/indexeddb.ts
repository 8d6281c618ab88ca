/**
 * Web storage: documents in IndexedDB through automerge-repo's own
 * `@automerge/automerge-repo-storage-indexeddb` 2.5.6, the session in `localStorage`.
 */

import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb";

import { keyValueSessionStore } from "../session.js";
import type { ClientStorage } from "../client.js";

export { IndexedDBStorageAdapter };

/**
 * Storage for a web app: documents in the IndexedDB database `database`, the session
 * under `paindiary.session.<database>` in `localStorage` (pass `session` to keep the
 * token elsewhere).
 */
export function browserStorage(database = "paindiary", session?: ClientStorage["session"]): ClientStorage {
  return {
    documents: new IndexedDBStorageAdapter(database, "documents"),
    session: session ?? keyValueSessionStore(globalThis.localStorage, `paindiary.session.${database}`),
  };
}
