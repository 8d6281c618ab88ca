/**
 * The WebSocket network adapter for automerge-repo 2.5.6 with a Paindiary token: the
 * automerge-repo v1 protocol (a `join`, the server's `peer`, then repo messages in CBOR)
 * like `@automerge/automerge-repo-network-websocket`, but with what an app needs around
 * it: a refused or dropped connection never throws (the stock adapter rethrows Node's
 * "Unexpected server response: 401" as an uncaught exception); before every reconnect the
 * owner is asked whether to go on (the client checks the token over REST, so a 401 on the
 * upgrade becomes a typed "session expired" event); reconnects back off exponentially
 * with jitter; the server's `error` message before a close is kept for the owner.
 */

import { NetworkAdapter, cbor, type Message, type PeerId, type PeerMetadata } from "@automerge/automerge-repo/slim";

/** The WebSocket constructor the adapter uses (the browser's, React Native's, or `ws`). */
export type WebSocketConstructor = new (url: string) => WebSocket;

/** What the owner decides after a connection failed or dropped. */
export type AfterFailure = "retry" | "stop";

/** Backoff between reconnects. */
export interface RetryOptions {
  /** First delay, ms (default 500). */
  initialMs?: number;
  /** Longest delay, ms (default 30 000). */
  maxMs?: number;
}

/** The connection's state, reported to the owner on every change. */
export type ConnectionStatus =
  | { state: "connecting"; attempt: number }
  | { state: "online" }
  | { state: "offline"; attempt: number; retryInMs: number; serverMessage?: string }
  | { state: "stopped"; serverMessage?: string };

interface AdapterOptions {
  url: () => string;
  webSocket: WebSocketConstructor;
  retry: RetryOptions;
  /** Called after every failed or dropped connection, before any reconnect. */
  afterFailure: (serverMessage: string | undefined) => Promise<AfterFailure>;
  onStatus: (status: ConnectionStatus) => void;
}

const PROTOCOL_V1 = "1";

/** See the module comment. */
export class PaindiaryNetworkAdapter extends NetworkAdapter {
  #opts: AdapterOptions;
  #socket: WebSocket | undefined;
  #remotePeerId: PeerId | undefined;
  #ready = false;
  #readyResolve: (() => void) | undefined;
  #readyPromise = new Promise<void>((resolve) => {
    this.#readyResolve = resolve;
  });
  #stopped = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #serverMessage: string | undefined;

  constructor(opts: AdapterOptions) {
    super();
    this.#opts = opts;
  }

  isReady(): boolean {
    return this.#ready;
  }

  whenReady(): Promise<void> {
    return this.#readyPromise;
  }

  #forceReady(): void {
    if (!this.#ready) {
      this.#ready = true;
      this.#readyResolve?.();
    }
  }

  /** Whether the socket is open and the server has answered the `join`. */
  get online(): boolean {
    return this.#remotePeerId !== undefined && this.#socket?.readyState === 1;
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId;
    this.peerMetadata = peerMetadata ?? {};
    this.#stopped = false;
    this.#open();
    // Like the stock adapter: do not hold the repo up for longer than a second offline,
    // so documents in local storage open at once.
    setTimeout(() => this.#forceReady(), 1000);
  }

  #open(): void {
    if (this.#stopped) return;
    this.#attempt += 1;
    this.#serverMessage = undefined;
    this.#opts.onStatus({ state: "connecting", attempt: this.#attempt });
    let socket: WebSocket;
    try {
      socket = new this.#opts.webSocket(this.#opts.url());
    } catch {
      this.#failed();
      return;
    }
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    let done = false;
    const finish = () => {
      if (done || this.#socket !== socket) return;
      done = true;
      this.#socket = undefined;
      if (this.#remotePeerId) {
        const peerId = this.#remotePeerId;
        this.#remotePeerId = undefined;
        this.emit("peer-disconnected", { peerId });
      }
      this.#failed();
    };
    socket.addEventListener("open", () => {
      if (this.#socket !== socket || !this.peerId) return;
      this.#sendRaw(socket, {
        type: "join",
        senderId: this.peerId,
        peerMetadata: this.peerMetadata,
        supportedProtocolVersions: [PROTOCOL_V1],
      });
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      if (this.#socket === socket) this.#receive(event.data as ArrayBuffer);
    });
    // Node's `ws` reports a refused upgrade (401) as an error event; browsers say nothing
    // more than "error". Either way the close follows; both end in `finish`.
    socket.addEventListener("error", () => {
      finish();
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    });
    socket.addEventListener("close", finish);
  }

  #failed(): void {
    if (this.#stopped) return;
    const serverMessage = this.#serverMessage;
    void this.#opts.afterFailure(serverMessage).then(
      (decision) => this.#after(decision, serverMessage),
      () => this.#after("retry", serverMessage),
    );
  }

  #after(decision: AfterFailure, serverMessage: string | undefined): void {
    if (this.#stopped) return;
    if (decision === "stop") {
      this.#stopped = true;
      this.#opts.onStatus(serverMessage === undefined ? { state: "stopped" } : { state: "stopped", serverMessage });
      return;
    }
    const initial = this.#opts.retry.initialMs ?? 500;
    const max = this.#opts.retry.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.#attempt - 1, 20));
    const retryInMs = Math.round(base / 2 + (Math.random() * base) / 2);
    const status: ConnectionStatus = { state: "offline", attempt: this.#attempt, retryInMs };
    if (serverMessage !== undefined) status.serverMessage = serverMessage;
    this.#opts.onStatus(status);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#open();
    }, retryInMs);
  }

  #receive(bytes: ArrayBuffer): void {
    let message: Record<string, unknown>;
    try {
      message = cbor.decode(new Uint8Array(bytes)) as Record<string, unknown>;
    } catch {
      return;
    }
    if (message.type === "peer") {
      this.#attempt = 0;
      this.#forceReady();
      this.#remotePeerId = message.senderId as PeerId;
      this.#opts.onStatus({ state: "online" });
      this.emit("peer-candidate", {
        peerId: message.senderId as PeerId,
        peerMetadata: (message.peerMetadata ?? {}) as PeerMetadata,
      });
    } else if (message.type === "error") {
      this.#serverMessage = typeof message.message === "string" ? message.message : "error";
    } else {
      this.emit("message", message as unknown as Message);
    }
  }

  #sendRaw(socket: WebSocket, message: object): void {
    const encoded = cbor.encode(message);
    socket.send(encoded.buffer.slice(encoded.byteOffset, encoded.byteOffset + encoded.byteLength));
  }

  send(message: Message): void {
    const socket = this.#socket;
    // Offline, a message is dropped: the sync protocol sends what the peer lacks again
    // once it reconnects, so nothing is lost.
    if (!socket || socket.readyState !== 1 || !this.#remotePeerId) return;
    if ("data" in message && message.data?.byteLength === 0) return;
    this.#sendRaw(socket, message);
  }

  /** Stops for good: closes the socket and never reconnects. */
  disconnect(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
    if (this.#remotePeerId) {
      const peerId = this.#remotePeerId;
      this.#remotePeerId = undefined;
      this.emit("peer-disconnected", { peerId });
    }
    this.#forceReady();
  }
}
