//! The index document: the months a patient has and where the care plan is, so any
//! automerge-repo client can discover everything from one URL given at login.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};

use super::document::DocKind;
use super::read;
use crate::ids::{DocumentId, Month, PatientId};

/// What an index document lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexContents {
    /// Month documents by month. Entries whose key or URL do not parse are skipped.
    pub months: BTreeMap<Month, DocumentId>,
    /// The care-plan document.
    pub care_plan: Option<DocumentId>,
}

/// Reads an index document.
pub fn read_index<D: ReadDoc>(doc: &D) -> IndexContents {
    let mut out = IndexContents {
        care_plan: read::opt_string(doc, &ROOT, "care_plan")
            .ok()
            .flatten()
            .and_then(|url| DocumentId::from_url(&url).ok()),
        ..IndexContents::default()
    };
    let maps = doc.get_all(ROOT, "months").unwrap_or_default();
    for (value, map) in maps {
        if !matches!(value, Value::Object(ObjType::Map)) {
            continue;
        }
        for item in doc.map_range(&map, ..).take(1_200) {
            let Ok(month) = item.key.parse::<Month>() else {
                continue;
            };
            let url = match doc.get(&map, item.key.as_ref()) {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    automerge::ScalarValue::Str(text) => Some(text.to_string()),
                    _ => None,
                },
                Ok(Some((Value::Object(ObjType::Text), id))) => doc.text(&id).ok(),
                _ => None,
            };
            if let Some(id) = url.and_then(|u| DocumentId::from_url(&u).ok()) {
                out.months.insert(month, id);
            }
        }
    }
    out
}

/// Adds `month` (and the care-plan URL) to a patient's index if missing. Returns whether
/// anything was written. Concurrent writers put identical values, so they cannot conflict
/// in any way that matters.
pub fn ensure_month(
    doc: &mut AutoCommit,
    patient: PatientId,
    month: Month,
) -> Result<bool, automerge::AutomergeError> {
    let current = read_index(doc);
    let month_id = DocKind::DiaryMonth { patient, month }.document_id();
    let care_plan = DocKind::CarePlan { patient }.document_id();
    let mut wrote = false;
    if current.care_plan != Some(care_plan) {
        doc.put(ROOT, "care_plan", care_plan.to_url())?;
        wrote = true;
    }
    if current.months.get(&month) != Some(&month_id) {
        let months = match doc.get(ROOT, "months")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => doc.put_object(ROOT, "months", ObjType::Map)?,
        };
        doc.put(&months, month.to_string(), month_id.to_url())?;
        wrote = true;
    }
    if wrote {
        doc.commit_with(CommitOptions::default().with_time(chrono::Utc::now().timestamp()));
    }
    Ok(wrote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ActorId;

    #[test]
    fn index_lists_months_and_care_plan_once() {
        let patient = PatientId::new_random();
        let kind = DocKind::Index { patient };
        let mut doc = kind.create(ActorId::random()).unwrap();
        let nov: Month = "2026-11".parse().unwrap();
        assert!(ensure_month(&mut doc, patient, nov).unwrap());
        assert!(!ensure_month(&mut doc, patient, nov).unwrap());
        let index = read_index(&doc);
        assert_eq!(index.months.len(), 1);
        assert_eq!(
            index.months[&nov],
            DocKind::DiaryMonth {
                patient,
                month: nov
            }
            .document_id()
        );
        assert_eq!(
            index.care_plan,
            Some(DocKind::CarePlan { patient }.document_id())
        );
    }
}
