//! Which status changes a change may go through, and who may cause them.

use super::model::ChangeStatus;

/// A decision a person takes on a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Approve, optionally with an edited new value.
    Approve {
        edited: Option<String>,
    },
    Reject,
    /// Reject, and never propose this register value for this record again.
    Wrong,
}

impl Verdict {
    pub fn target(&self) -> ChangeStatus {
        match self {
            Verdict::Approve { .. } => ChangeStatus::Approved,
            Verdict::Reject | Verdict::Wrong => ChangeStatus::Rejected,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Approve { .. } => "approved",
            Verdict::Reject => "rejected",
            Verdict::Wrong => "flagged wrong",
        }
    }
}

/// Whether a steward's verdict may move a change out of `from`. Applied, superseded and
/// reverted changes are history; a conflict can only be rejected, because its expected old
/// value is stale (the next pass proposes afresh from the current CRM value).
pub fn allowed(from: ChangeStatus, verdict: &Verdict) -> Result<(), String> {
    use ChangeStatus::*;
    let ok = match (from, verdict) {
        (Proposed | Failed, _) => true,
        (Approved, Verdict::Reject | Verdict::Wrong) => true,
        (Approved, Verdict::Approve { edited }) => edited.is_some(),
        (Conflict, Verdict::Reject | Verdict::Wrong) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a change in status `{from}` cannot be {}",
            verdict.name()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_table() {
        use ChangeStatus::*;
        let approve = Verdict::Approve { edited: None };
        let edit = Verdict::Approve {
            edited: Some("x".into()),
        };
        let cases = [
            (Proposed, &approve, true),
            (Proposed, &Verdict::Reject, true),
            (Approved, &approve, false),
            (Approved, &edit, true),
            (Approved, &Verdict::Reject, true),
            (Failed, &approve, true),
            (Conflict, &approve, false),
            (Conflict, &Verdict::Reject, true),
            (Conflict, &Verdict::Wrong, true),
            (Proposed, &Verdict::Wrong, true),
            (Applied, &Verdict::Wrong, false),
            (Applied, &Verdict::Reject, false),
            (Superseded, &approve, false),
            (Rejected, &approve, false),
            (Reverted, &approve, false),
        ];
        for (from, verdict, ok) in cases {
            assert_eq!(allowed(from, verdict).is_ok(), ok, "{from} {verdict:?}");
        }
    }
}
