/**
 * A document storage adapter over the app's own file interface, for React Native (and
 * anything else without IndexedDB or `node:fs`): wrap expo-file-system,
 * react-native-fs or a SQLite key-value table in [`FileSystem`] and pass
 * `fileStorage(fs, session)` to `connect`. automerge-repo ships no such adapter.
 */

import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo/slim";

import type { SessionStore } from "../session.js";
import type { ClientStorage } from "../client.js";

/** The four operations the adapter needs; paths use `/` and are relative to the app's directory. */
export interface FileSystem {
  /** The file's bytes, or `undefined` when there is none. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** Writes the file whole (creating directories as needed); replace atomically if you can. */
  write(path: string, data: Uint8Array): Promise<void>;
  /** Removes the file; no error when it is not there. */
  remove(path: string): Promise<void>;
  /** Every file path under `dir` (recursively), relative to the root, `/`-separated. */
  list(dir: string): Promise<string[]>;
}

function pathOf(key: StorageKey): string {
  return key.map((part) => encodeURIComponent(part)).join("/");
}

function keyOf(path: string): StorageKey {
  return path.split("/").filter((p) => p !== "").map((part) => decodeURIComponent(part));
}

/** automerge-repo's storage interface over a [`FileSystem`]: one file per storage key. */
export class FileStorageAdapter implements StorageAdapterInterface {
  constructor(private readonly fs: FileSystem) {}

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.fs.read(pathOf(key));
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.fs.write(pathOf(key), data);
  }

  remove(key: StorageKey): Promise<void> {
    return this.fs.remove(pathOf(key));
  }

  async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    const chunks: Chunk[] = [];
    for (const path of await this.fs.list(pathOf(keyPrefix))) {
      const data = await this.fs.read(path);
      if (data !== undefined) chunks.push({ key: keyOf(path), data });
    }
    return chunks;
  }

  async removeRange(keyPrefix: StorageKey): Promise<void> {
    for (const path of await this.fs.list(pathOf(keyPrefix))) await this.fs.remove(path);
  }
}

/** Storage for an app that brings its own files: documents through [`FileStorageAdapter`], the session in `session`. */
export function fileStorage(fs: FileSystem, session: SessionStore): ClientStorage {
  return { documents: new FileStorageAdapter(fs), session };
}
