/** The kit's typed errors: each has a stable `code` an app can switch on. */

import type { ValidationError } from "./validate.js";
import type { EntryKind } from "./vocab.js";

/** Base class of every error the kit throws on purpose. */
export class PaindiaryError extends Error {
  constructor(
    /** A stable machine-readable code. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** An entry or edit failed validation; nothing was written. */
export class ValidationFailedError extends PaindiaryError {
  constructor(readonly errors: ValidationError[]) {
    super("invalid_entry", errors.map((e) => e.message).join("; "));
  }
}

/** A write to a document the patient's devices may only read (care plan, index). */
export class ReadOnlyDocumentError extends PaindiaryError {
  constructor(readonly document: "care_plan" | "index") {
    super(
      "read_only_document",
      document === "care_plan"
        ? "the care plan is written by the care team; a phone's changes to it would never be applied by the server, so none was made"
        : "the index is written by the server; a phone's changes to it would never be applied, so none was made",
    );
  }
}

/** The token expired or was revoked: log in again. */
export class SessionExpiredError extends PaindiaryError {
  constructor(message = "the session expired or was revoked: log in again") {
    super("session_expired", message);
  }
}

/** The server could not be reached and nothing cached can stand in for it. */
export class OfflineError extends PaindiaryError {
  constructor(message: string) {
    super("offline", message);
  }
}

/** The server answered with an error (`{code, message}`). */
export class ServerError extends PaindiaryError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** No entry of that kind has that ID in the months opened. */
export class EntryNotFoundError extends PaindiaryError {
  constructor(kind: EntryKind, id: string) {
    super("entry_not_found", `no ${kind} entry ${id}`);
  }
}

/** The field is not part of that kind of entry. */
export class UnknownFieldError extends PaindiaryError {
  constructor(kind: EntryKind, field: string) {
    super("unknown_field", `${kind} entries have no field \`${field.slice(0, 40)}\``);
  }
}

/** The month document is neither stored on this device nor obtainable now. */
export class MonthUnavailableError extends PaindiaryError {
  constructor(month: string, why: string) {
    super("month_unavailable", `month ${month} is not available: ${why}`);
  }
}

/** The server did not acknowledge in time (nothing is lost; it syncs when it can). */
export class SyncTimeoutError extends PaindiaryError {
  constructor(message: string) {
    super("sync_timeout", message);
  }
}
