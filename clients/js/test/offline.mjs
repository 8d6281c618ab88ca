// Offline tests of the kit (no server): questionnaires' definitions, scoring, validation,
// reading and what is due, on the same tables as crates/sync/src/questionnaire.rs and
// crates/sync/tests/schema_questionnaire.rs. Run: npm run build && npm test.

import assert from "node:assert/strict"
import { test } from "node:test"

import * as A from "@automerge/automerge"

import {
  GAD7, PEG, PHQ9, builtInInstrument, checkAnswers, dueOn, pegAnswers, readAssignments, readMonth,
  scoreAnswers, validateEntry, ENTRY_KINDS, FIELDS_OF, MAP_KEYS,
} from "../dist/index.js"

const answers = (def, values) => {
  const out = {}
  def.items.forEach((item, i) => { if (values[i] !== null && values[i] !== undefined) out[item.link_id] = values[i] })
  return out
}

test("the kind, its map key and fields are the Rust schema's", () => {
  assert.equal(ENTRY_KINDS.at(-1), "questionnaire")
  assert.equal(MAP_KEYS.questionnaire, "questionnaires")
  assert.deepEqual(FIELDS_OF.questionnaire, ["instrument", "version", "answers", "note"])
  assert.equal(builtInInstrument("phq9", "1"), PHQ9)
  assert.equal(builtInInstrument("phq9", "2"), undefined)
  assert.equal(builtInInstrument(" phq9", "1"), undefined)
})

test("PHQ-9 totals, bands, proration and item 9", () => {
  const _ = null
  // (answers, total, band, prorated, item 9 positive): the Rust phq9_table.
  const cases = [
    [[0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "minimal", false, false],
    [[3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "severe", false, true],
    [[1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal", false, false],
    [[1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild", false, false],
    [[2, 2, 2, 2, 1, 0, 0, 0, 0], 9, "mild", false, false],
    [[2, 2, 2, 2, 2, 0, 0, 0, 0], 10, "moderate", false, false],
    [[3, 3, 3, 2, 2, 2, 0, 0, 0], 15, "moderately_severe", false, false],
    [[3, 3, 3, 3, 2, 2, 2, 2, 0], 20, "severe", false, false],
    [[0, 0, 0, 0, 0, 0, 0, 0, 1], 1, "minimal", false, true],
    [[2, 2, 2, 2, 1, 1, 1, 1, _], 14, "moderate", true, false],
    [[2, _, 2, 2, 1, _, 1, 1, 1], 13, "moderate", true, true],
    [[3, _, _, _, 3, 3, 3, 3, 3], null, null, false, true],
  ]
  for (const [i, [values, total, band, prorated, safety]] of cases.entries()) {
    const a = answers(PHQ9, values)
    assert.deepEqual(checkAnswers(PHQ9, a), [], `case ${i}`)
    const s = scoreAnswers(PHQ9, a)
    assert.deepEqual([s.total, s.band, s.prorated, s.safety_positive], [total, band, prorated, safety], `case ${i}`)
  }
})

test("GAD-7 needs every item; PEG is the mean, as a check-in", () => {
  assert.deepEqual(scoreAnswers(GAD7, answers(GAD7, [3, 3, 3, 3, 3, 0, 0])).band, "severe")
  assert.equal(scoreAnswers(GAD7, answers(GAD7, [1, 1, 1, 1, 1, 0, 0])).total, 5)
  assert.equal(scoreAnswers(GAD7, answers(GAD7, [3, 3, 3, 3, 3, 3, null])).total, null)
  assert.equal(scoreAnswers(PEG, pegAnswers(6, 7, 5)).total, 6)
  assert.ok(Math.abs(scoreAnswers(PEG, pegAnswers(4, 4, 5)).total - 13 / 3) < 1e-12)
  assert.equal(scoreAnswers(PEG, { pain: 4, enjoyment: 4 }).total, null)
})

test("invalid answers are refused with the item and the scale, in Rust's order and words", () => {
  const a = answers(PHQ9, [0, 0, 0, 0, 0, 0, 0, 0, 0])
  a.nine = 1
  a["44259-0"] = -1
  a["44250-9"] = 4
  a["44255-8"] = 1.5
  assert.deepEqual(checkAnswers(PHQ9, a).map((e) => e.message), [
    "answer to phq9 item 44250-9 must be a whole number from 0 to 3, got 4",
    "answer to phq9 item 44255-8 must be a whole number from 0 to 3, got 1.5",
    "answer to phq9 item 44259-0 must be a whole number from 0 to 3, got -1",
    "phq9 has no item \"nine\"",
  ])
  assert.deepEqual(checkAnswers(PHQ9, a)[0], {
    code: "invalid_answer", instrument: "phq9", item: "44250-9", value: 4, min: 0, max: 3,
    message: "answer to phq9 item 44250-9 must be a whole number from 0 to 3, got 4",
  })
  assert.deepEqual(checkAnswers(GAD7, {}), [{ code: "no_answers", message: "a questionnaire response needs at least one answer" }])
})

test("validateEntry: unknown instruments, empty texts, wrong types", () => {
  const now = new Date("2026-12-05T10:00:00Z")
  const base = { kind: "questionnaire", recorded_at: now, tz: "Europe/Berlin", instrument: "phq9", version: "1", answers: { "44250-9": 1 } }
  assert.deepEqual(validateEntry(base, now), [])
  assert.deepEqual(validateEntry({ ...base, instrument: "bpi" }, now), [
    { code: "unknown_instrument", instrument: "bpi", version: "1", message: "unknown instrument \"bpi\" version \"1\"" },
  ])
  assert.deepEqual(validateEntry({ ...base, instrument: " ", version: "x".repeat(17) }, now).map((e) => e.code),
    ["empty_text", "text_too_long", "unknown_instrument"])
  assert.deepEqual(validateEntry({ ...base, answers: undefined }, now).map((e) => e.code), ["no_answers"])
  assert.deepEqual(validateEntry({ ...base, answers: { "44250-9": "1" } }, now), [
    { code: "required", field: "answers", expected: "a map of numbers", message: "answers is required and must be a map of numbers" },
  ])
  assert.deepEqual(validateEntry({ ...base, instrument: undefined }, now).map((e) => [e.code, e.field]), [["required", "instrument"]])
  assert.deepEqual(validateEntry({ ...base, note: "n".repeat(4001) }, now).map((e) => e.code), ["text_too_long"])
})

test("two devices creating the questionnaires map offline: both responses are read", () => {
  let base = A.from({ schema: "paindiary/diary-month/v1", pain: {} })
  let a = A.change(A.clone(base, { actor: "aa".repeat(16) }), (d) => {
    d.questionnaires = { "0190a4b2-0000-7000-8000-000000000001": {
      recorded_at: new Date("2026-12-03T09:00:00Z"), tz: new A.ImmutableString("Europe/Berlin"),
      instrument: new A.ImmutableString("phq9"), version: new A.ImmutableString("1"), answers: { "44250-9": 2, "44260-8": 1 },
    } }
  })
  const b = A.change(A.clone(base, { actor: "bb".repeat(16) }), (d) => {
    // A JS client's own style: Text strings and float answers.
    d.questionnaires = { "0190a4b2-0000-7000-8000-000000000002": {
      recorded_at: new Date("2026-12-04T09:00:00Z"), tz: "Europe/Berlin", instrument: "gad7", version: "1",
      answers: { "69725-0": 1.0 }, note: "after the walk",
    } }
  })
  a = A.merge(a, b)
  const read = readMonth(a)
  assert.deepEqual(read.unreadable, [])
  const found = read.entries.map((e) => [e.entry.kind, e.entry.instrument, e.entry.answers])
  assert.deepEqual(found, [
    ["questionnaire", "phq9", { "44250-9": 2, "44260-8": 1 }],
    ["questionnaire", "gad7", { "69725-0": 1 }],
  ])
  // A map of something else than numbers cannot be read, with the server's words.
  const bad = A.change(a, (d) => { d.questionnaires["0190a4b2-0000-7000-8000-000000000002"].answers = { x: "one" } })
  assert.deepEqual(readMonth(bad).unreadable.map((u) => u.reason), ["field `answers` should be a map of numbers"])
})

test("what is due: once per period from the start date, from the care plan's assignments", () => {
  const plan = A.from({
    schema: "paindiary/care-plan/v1",
    questionnaires: {
      q1: { instrument: "phq9", every_days: 28, start_date: "2026-12-01" },
      q2: { instrument: "peg", every_days: 7, start_date: "2026-12-01", end_date: "2026-12-31" },
      gone: { instrument: "gad7", every_days: 7, start_date: "2026-12-01", deleted_at: new Date("2026-12-02T00:00:00Z") },
      bad: { instrument: "gad7", every_days: 0.5, start_date: "2026-12-01" },
    },
  })
  const { assignments, unreadable } = readAssignments(plan)
  assert.deepEqual(assignments.map((x) => x.instrument), ["phq9", "peg"])
  assert.deepEqual(unreadable, [{ key: "bad", reason: "field `every_days` should be a whole number of days from 1 to 366" }])
  assert.deepEqual(dueOn(assignments, [], "2026-11-30"), [])
  assert.deepEqual(dueOn(assignments, [], "2026-12-01"), ["phq9", "peg"])
  const answered = [{ instrument: "phq9", day: "2026-12-03" }, { instrument: "peg", day: "2026-12-07" }]
  assert.deepEqual(dueOn(assignments, answered, "2026-12-07"), [])
  assert.deepEqual(dueOn(assignments, answered, "2026-12-08"), ["peg"])
  assert.deepEqual(dueOn(assignments, answered, "2026-12-28"), ["peg"])
  assert.deepEqual(dueOn(assignments, answered, "2026-12-29"), ["phq9", "peg"])
  assert.deepEqual(dueOn(assignments, answered, "2027-01-02"), ["phq9"])
})

test("answerQuestionnaire offline: the first response creates the map, refusals write nothing, dueQuestionnaires", async () => {
  const { connect, memorySessionStore, monthUrl, carePlanUrl, ValidationFailedError } = await import("../dist/index.js")
  const patient = "0190a4b2-0000-7000-8000-00000000abcd"
  const now = new Date("2026-12-08T09:00:00Z")
  // The month's genesis as the server serves it: the v1 root maps, no `questionnaires`.
  const genesis = A.save(A.from({
    schema: "paindiary/diary-month/v1", patient, month: "2026-12",
    pain: {}, medications: {}, exercise: {}, wellbeing: {}, checkins: {},
  }))
  const session = memorySessionStore()
  await session.save({
    baseUrl: "http://127.0.0.1:9", token: "t", patientId: patient, timezone: "Europe/Berlin",
    documents: {
      patient_id: patient, index: { document_id: "", url: "" }, care_plan: { document_id: "", url: "" },
      months: [], genesis: { "2026-12": Buffer.from(genesis).toString("base64") }, sync_url: "/sync",
    },
  })
  const client = await connect({
    baseUrl: "http://127.0.0.1:9", storage: { session }, now: () => now,
    fetch: async () => { throw new Error("offline") }, retry: { initialMs: 60_000, maxMs: 60_000 },
  })
  try {
    const plan = A.from({ schema: "paindiary/care-plan/v1", patient, questionnaires: {
      q1: { instrument: "phq9", every_days: 28, start_date: "2026-12-01" },
      q2: { instrument: "gad7", every_days: 14, start_date: "2026-12-01" },
    } })
    client.repo.import(A.save(plan), { docId: carePlanUrl(patient).slice("automerge:".length) })
    assert.deepEqual(await client.dueQuestionnaires(), ["phq9", "gad7"])

    await assert.rejects(client.answerQuestionnaire("bpi", "1", { x: 1 }), (e) =>
      e instanceof ValidationFailedError && e.errors[0].code === "unknown_instrument")
    await assert.rejects(client.answerQuestionnaire("phq9", "1", { "44250-9": 4 }), (e) =>
      e instanceof ValidationFailedError && e.errors[0].code === "invalid_answer")
    const handle = await client.month("2026-12")
    assert.equal(handle.doc().questionnaires, undefined, "nothing written by a refused response")

    const ref = await client.answerQuestionnaire("phq9", "1", { "44250-9": 1, "44260-8": 0 }, { note: "ok" })
    assert.equal(ref.month, "2026-12")
    const [stored] = (await client.liveEntries("2026-12")).filter((e) => e.entry.kind === "questionnaire")
    assert.deepEqual([stored.id, stored.entry.instrument, stored.entry.version, stored.entry.answers, stored.entry.note],
      [ref.id, "phq9", "1", { "44250-9": 1, "44260-8": 0 }, "ok"])
    assert.deepEqual(await client.dueQuestionnaires(), ["gad7"])
    assert.deepEqual(await client.dueQuestionnaires("2026-12-29"), ["phq9", "gad7"])

    // Editing the answers validates the whole response again.
    await assert.rejects(client.edit(ref, { answers: { "44260-8": 7 } }), ValidationFailedError)
    await client.edit(ref, { answers: { "44260-8": 1 } })
    const edited = (await client.liveEntries("2026-12")).find((e) => e.id === ref.id)
    assert.deepEqual(edited.entry.answers, { "44260-8": 1 })
    assert.equal(monthUrl(patient, "2026-12"), client.monthUrl("2026-12"))
  } finally {
    await client.close()
  }
})
