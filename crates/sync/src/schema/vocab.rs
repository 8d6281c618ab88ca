//! The fixed vocabularies of schema v1: body regions, pain qualities, dose units, routes,
//! intervention kinds. Each term has one stable snake_case code stored in documents.

use std::fmt;
use std::str::FromStr;

/// A text that is not a term of the vocabulary it was read for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {vocabulary} {term:?}")]
pub struct UnknownTerm {
    /// Which vocabulary (e.g. "dose unit").
    pub vocabulary: &'static str,
    /// The offending text, cut to 40 characters.
    pub term: String,
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            /// Every term, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code stored in documents.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownTerm;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($code => Ok($name::$variant),)+
                    other => Err(UnknownTerm { vocabulary: $what, term: other.chars().take(40).collect() }),
                }
            }
        }
    };
}

vocabulary!(
    /// Where the pain is. Left/right are the patient's own sides.
    BodyRegion, "body region", {
        Head = "head", Face = "face", Jaw = "jaw", Neck = "neck",
        ShoulderLeft = "shoulder_left", ShoulderRight = "shoulder_right",
        UpperArmLeft = "upper_arm_left", UpperArmRight = "upper_arm_right",
        ElbowLeft = "elbow_left", ElbowRight = "elbow_right",
        ForearmLeft = "forearm_left", ForearmRight = "forearm_right",
        WristHandLeft = "wrist_hand_left", WristHandRight = "wrist_hand_right",
        Chest = "chest", Abdomen = "abdomen", UpperBack = "upper_back", MidBack = "mid_back",
        LowerBack = "lower_back", Buttock = "buttock", Pelvis = "pelvis", Groin = "groin",
        HipLeft = "hip_left", HipRight = "hip_right",
        ThighLeft = "thigh_left", ThighRight = "thigh_right",
        KneeLeft = "knee_left", KneeRight = "knee_right",
        LowerLegLeft = "lower_leg_left", LowerLegRight = "lower_leg_right",
        AnkleFootLeft = "ankle_foot_left", AnkleFootRight = "ankle_foot_right",
        /// Pain everywhere or in many places (e.g. fibromyalgia).
        Widespread = "widespread",
    }
);

vocabulary!(
    /// How the pain feels (McGill-style descriptors).
    PainQuality, "pain quality", {
        Aching = "aching", Burning = "burning", Stabbing = "stabbing", Throbbing = "throbbing",
        Shooting = "shooting", Tingling = "tingling", Cramping = "cramping", Sharp = "sharp",
        Dull = "dull", Numb = "numb", Pressing = "pressing", ElectricShock = "electric_shock",
    }
);

vocabulary!(
    /// The unit of a dose amount.
    DoseUnit, "dose unit", {
        Mg = "mg", Mcg = "mcg", G = "g", Ml = "ml",
        /// Micrograms per hour: the strength of a transdermal patch.
        McgPerHour = "mcg_per_hour",
        Tablet = "tablet", Capsule = "capsule", Drop = "drop", Puff = "puff", Patch = "patch",
        Spray = "spray", Application = "application",
        /// International units.
        Unit = "unit",
    }
);

impl DoseUnit {
    /// The largest amount we accept in one intake of this unit. Anything above is far
    /// past any real single dose and is almost certainly a typo (mg typed as mcg, an extra 0).
    pub const fn max_single_dose(self) -> f64 {
        match self {
            DoseUnit::Mg => 5_000.0,
            DoseUnit::Mcg => 5_000_000.0,
            DoseUnit::G => 10.0,
            DoseUnit::Ml => 500.0,
            DoseUnit::McgPerHour => 400.0,
            DoseUnit::Tablet | DoseUnit::Capsule => 20.0,
            DoseUnit::Drop => 100.0,
            DoseUnit::Puff | DoseUnit::Spray => 20.0,
            DoseUnit::Patch => 4.0,
            DoseUnit::Application => 10.0,
            DoseUnit::Unit => 100_000.0,
        }
    }
}

vocabulary!(
    /// How a medication was taken.
    Route, "route", {
        Oral = "oral", Sublingual = "sublingual", Buccal = "buccal", Transdermal = "transdermal",
        Topical = "topical", Intravenous = "intravenous", Intramuscular = "intramuscular",
        Subcutaneous = "subcutaneous", Rectal = "rectal", Inhaled = "inhaled",
        Intranasal = "intranasal", Intrathecal = "intrathecal", Other = "other",
    }
);

vocabulary!(
    /// Whether a scheduled or PRN dose was taken.
    IntakeStatus, "intake status", {
        Taken = "taken", Skipped = "skipped",
    }
);

vocabulary!(
    /// Interventional procedures a pain physician performs.
    InterventionKind, "intervention kind", {
        EpiduralSteroidInjection = "epidural_steroid_injection",
        NerveBlock = "nerve_block",
        FacetJointInjection = "facet_joint_injection",
        RadiofrequencyAblation = "radiofrequency_ablation",
        SpinalCordStimulator = "spinal_cord_stimulator",
        TriggerPointInjection = "trigger_point_injection",
        JointInjection = "joint_injection",
        IntrathecalPump = "intrathecal_pump",
        Surgery = "surgery",
        Other = "other",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_terms_are_named() {
        for unit in DoseUnit::ALL {
            assert_eq!(unit.as_str().parse::<DoseUnit>(), Ok(*unit));
        }
        let err = "spoonful".parse::<DoseUnit>().unwrap_err();
        assert_eq!(err.to_string(), "unknown dose unit \"spoonful\"");
        assert_eq!("lower_back".parse(), Ok(BodyRegion::LowerBack));
    }
}
