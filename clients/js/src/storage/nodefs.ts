/**
 * Node storage: documents in a directory through automerge-repo's own
 * `@automerge/automerge-repo-storage-nodefs` 2.5.6, the session in a JSON file beside them
 * (mode 0600: it holds the device token).
 */

import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";

import type { SavedSession, SessionStore } from "../session.js";
import type { ClientStorage } from "../client.js";

export { NodeFSStorageAdapter };

/** A session kept in one JSON file, replaced atomically. */
export function fileSessionStore(path: string): SessionStore {
  return {
    load: async () => {
      try {
        return JSON.parse(await readFile(path, "utf8")) as SavedSession;
      } catch {
        return null;
      }
    },
    save: async (s) => {
      const tmp = `${path}.tmp`;
      await writeFile(tmp, JSON.stringify(s), { mode: 0o600 });
      await rename(tmp, path);
    },
    clear: async () => {
      await rm(path, { force: true });
    },
  };
}

/** Storage in directory `dir`: documents under `dir/documents`, the session in `dir/session.json`. */
export async function nodeStorage(dir: string): Promise<ClientStorage> {
  await mkdir(join(dir, "documents"), { recursive: true });
  return {
    documents: new NodeFSStorageAdapter(join(dir, "documents")),
    session: fileSessionStore(join(dir, "session.json")),
  };
}
