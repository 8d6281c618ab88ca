/**
 * `@paindiary/client`: the phone side of Paindiary for JS and TypeScript apps (web,
 * React Native, Node). Start with [`connect`]; see README.md.
 */

export {
  connect,
  type AnswerOptions,
  PaindiaryClient,
  type ClientEvents,
  type ClientStorage,
  type ConnectOptions,
  type Credentials,
  type Enrolment,
  type EntryChanges,
  type EntryIssue,
  type EntryRef,
  type When,
} from "./client.js";
export * from "./errors.js";
export { carePlanUrl, documentIdOf, indexUrl, monthUrl, uuidBytes, uuidv7 } from "./ids.js";
export type { ConnectionStatus, RetryOptions, WebSocketConstructor } from "./network.js";
export * from "./questionnaire.js";
export {
  type AssignedQuestionnaire,
  FieldError,
  isUuid,
  kindMaps,
  parseRfc3339,
  readBool,
  readEntry,
  readFieldsLenient,
  readHeader,
  readIndex,
  readInstant,
  readMonth,
  readAssignments,
  readNumber,
  readNumberMap,
  readString,
  readStringList,
  toPlain,
  type Header,
  type MonthEntries,
  type StoredEntry,
  type UnreadableEntry,
} from "./read.js";
export {
  keyValueSessionStore,
  memorySessionStore,
  type KeyValueStorage,
  type MonthRef,
  type PatientDocuments,
  type SavedSession,
  type SessionStore,
} from "./session.js";
export { localDate, localMonth, nextLocalMidnight, nextMonth } from "./time.js";
export * from "./validate.js";
export * from "./vocab.js";
