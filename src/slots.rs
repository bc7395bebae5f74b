//! Slots: the attributes of a person that hold one value at a time (where
//! they live, who they work for, what they drive), so that a new statement
//! about one replaces the old. Extraction maps a statement to its slot;
//! recall maps a question to the slot it asks about.
//!
//! The lexicon is general vocabulary (the words people use for homes,
//! jobs, cars, pets …), never a list of values: a slot is recognised by
//! its cue words, and a statement only fills a slot when it also carries a
//! value (a name, a number, or a word of the slot's own vocabulary).

use crate::store::FactKind;

/// One slot: its name, the kind of fact it makes, and its vocabulary.
pub struct SlotDef {
    pub name: &'static str,
    pub kind: FactKind,
    /// Phrases (lowercase, matched on word boundaries) that say a
    /// statement is about this slot. Weighted 2 when multi-word.
    cues: &'static [&'static str],
    /// Words that are themselves values of the slot (a diet, a job title).
    values: &'static [&'static str],
    /// Extra phrases only a question uses ("where does … live").
    query_cues: &'static [&'static str],
}

#[rustfmt::skip]
const CAR_BRANDS: &[&str] = &[
    "tesla", "toyota", "honda", "subaru", "kia", "nissan", "skoda", "ford", "bmw", "audi",
    "volkswagen", "vw", "mazda", "hyundai", "volvo", "jeep", "chevrolet", "chevy", "mercedes",
    "porsche", "fiat", "peugeot", "renault", "lexus", "polestar", "rivian", "prius", "corolla",
    "civic", "mini cooper", "land rover", "jaguar", "dacia", "seat", "citroen", "mitsubishi",
    "suzuki", "byd", "lucid", "cadillac", "dodge", "chrysler", "buick", "acura", "infiniti",
];

#[rustfmt::skip]
const PHONE_BRANDS: &[&str] = &[
    "iphone", "pixel", "galaxy", "samsung", "oneplus", "xperia", "nokia", "motorola", "huawei",
    "xiaomi", "fairphone", "blackberry", "redmi", "oppo", "vivo",
];

/// Checked in order; on a tie of cue weight the earlier slot wins, so the
/// narrower slots (a child's school, a job title) come before the broad
/// ones (employer, residence) whose cues they share. A cue marked `~` is
/// weak (common words such as "work", "into", "seeing"): it counts half,
/// and a statement needs the weight of one strong cue to have a slot.
#[rustfmt::skip]
pub const SLOTS: &[SlotDef] = &[
    SlotDef {
        name: "kid_school",
        kind: FactKind::UserProfile,
        cues: &[
            "school", "elementary", "primary school", "montessori", "academy", "kindergarten",
            "preschool", "nursery", "daycare", "pickup", "school run", "~teacher", "bake sale",
            "first day at",
        ],
        values: &["elementary", "montessori", "academy", "primary", "kindergarten", "preschool"],
        query_cues: &["child", "kid", "son", "daughter", "school"],
    },
    SlotDef {
        name: "run_pr",
        kind: FactKind::UserProfile,
        cues: &[
            "half marathon", "marathon", "pr", "personal best", "personal record", "best time",
            "~half", "10k", "5k",
        ],
        values: &[],
        query_cues: &["race", "running", "run", "fastest"],
    },
    SlotDef {
        name: "job_title",
        kind: FactKind::UserProfile,
        cues: &[
            "work as", "working as", "promoted to", "my title", "new title", "job title",
            "switched careers", "career", "retraining as", "moved me from", "role as",
            "position as",
        ],
        values: &JOBS,
        query_cues: &[
            "job title", "title", "role", "profession", "position", "do for a living", "work as",
        ],
    },
    SlotDef {
        name: "gym",
        kind: FactKind::UserProfile,
        cues: &[
            "gym", "gyms", "fitness", "crossfit", "club", "membership", "trainers", "member of",
            "signed up at", "first class at", "~studio",
        ],
        values: &[],
        query_cues: &["gym", "club", "train", "fitness"],
    },
    SlotDef {
        name: "employer",
        kind: FactKind::UserProfile,
        cues: &[
            "work at", "working at", "work for", "working for", "job at", "new job", "hired by",
            "~joined", "contract with", "office at", "team at", "week at", "started at", "company",
            "employer", "~quit", "~work", "~colleagues", "~coworkers",
        ],
        values: &[],
        query_cues: &["work", "works", "employer", "employed", "company", "job"],
    },
    SlotDef {
        name: "partner",
        kind: FactKind::UserProfile,
        cues: &[
            "partner", "dating", "girlfriend", "boyfriend", "husband", "wife", "fiance", "fiancee",
            "fiancé", "fiancée", "~seeing", "~couple", "~together", "asked me out", "broke up",
            "married", "engaged", "~relationship",
        ],
        values: &[],
        query_cues: &[
            "partner", "dating", "seeing", "relationship", "together with",
        ],
    },
    SlotDef {
        name: "pet",
        kind: FactKind::UserProfile,
        cues: &[
            "pet", "dog", "cat", "puppy", "kitten", "~adopted", "~rescued", "~vet", "greyhound",
            "dachshund", "labrador", "retriever", "poodle", "beagle", "terrier", "spaniel",
            "collie", "husky", "pug", "bulldog", "corgi", "tabby", "siamese", "rabbit", "bunny",
            "hamster", "guinea pig", "ferret", "parrot", "budgie", "tortoise", "turtle", "lizard",
            "gecko", "snake", "goldfish", "horse", "pony", "cockatiel",
        ],
        values: &[],
        query_cues: &["pet", "animal", "dog", "cat"],
    },
    SlotDef {
        name: "phone",
        kind: FactKind::Env,
        cues: &["phone", "phones", "smartphone", "~mobile"],
        values: PHONE_BRANDS,
        query_cues: &["phone", "smartphone", "mobile"],
    },
    SlotDef {
        name: "car",
        kind: FactKind::UserProfile,
        cues: &[
            "car", "cars", "~drive", "~drives", "~drove", "~driving", "vehicle", "traded in", "~commute",
            "~commuting", "~tires", "~tyres",
        ],
        values: CAR_BRANDS,
        query_cues: &["car", "drive", "vehicle"],
    },
    SlotDef {
        name: "diet",
        kind: FactKind::Preference,
        cues: &["diet", "~eating", "meal prep", "~eat"],
        values: &[
            "vegan", "vegetarian", "keto", "ketogenic", "pescatarian", "paleo", "carnivore",
            "whole30", "low-fodmap", "fodmap", "gluten-free", "dairy-free", "plant-based",
            "flexitarian", "mediterranean", "intermittent fasting", "low-carb", "raw food",
            "macrobiotic", "atkins", "fruitarian", "pescetarian", "halal",
            "kosher", "lactose-free", "sugar-free", "low-sugar", "zero-carb", "dash diet",
        ],
        query_cues: &["diet", "eat", "eating"],
    },
    SlotDef {
        name: "band",
        kind: FactKind::Preference,
        cues: &[
            "band", "favourite band", "favorite band", "top band", "~listen", "~listening", "~concert",
            "~album", "~music", "~saw", "~live",
        ],
        values: &[],
        query_cues: &["band", "music", "listen", "artist"],
    },
    SlotDef {
        name: "course",
        kind: FactKind::Project,
        cues: &[
            "course", "~class", "~classes", "certification", "certificate", "bootcamp", "diploma",
            "degree", "~program", "~programme", "~studying", "enrolled", "~homework", "masters", "mba",
        ],
        values: &[],
        query_cues: &["course", "studying", "study", "class", "taking"],
    },
    SlotDef {
        name: "hobby",
        kind: FactKind::Preference,
        cues: &[
            "hobby", "new hobby", "my hobby", "took up", "taken up", "takes up", "really into", "i'm hooked", "stopped", "gave up", "take up", "~into", "all about", "~hooked", "~weekends",
            "picked up", "~started",
        ],
        values: &[],
        query_cues: &["hobby", "free time", "pastime", "spare time"],
    },
    SlotDef {
        name: "residence",
        kind: FactKind::UserProfile,
        cues: &[
            "live in", "living in", "lives in", "moved to", "move to", "moving to", "here in",
            "my place in", "my flat in", "my apartment in", "relocated to", "settled in",
            "based in", "got to", "~left", "~city", "~town", "~hometown",
        ],
        values: &[],
        query_cues: &["live", "living", "city", "based", "reside", "home"],
    },
];

#[rustfmt::skip]
const JOBS: [&str; 58] = [
    "manager", "engineer", "designer", "analyst", "teacher", "nurse", "developer", "coordinator",
    "accountant", "bookkeeper", "technician", "tester", "consultant", "writer", "editor", "lawyer",
    "doctor", "chef", "architect", "scientist", "librarian", "pharmacist", "therapist",
    "programmer", "paralegal", "electrician", "plumber", "carpenter", "mechanic", "firefighter",
    "officer", "administrator", "assistant", "director", "specialist", "researcher", "photographer",
    "journalist", "veterinarian", "dentist", "surgeon", "paramedic", "counselor", "counsellor",
    "recruiter", "planner", "producer", "marketer", "salesperson", "barista", "cashier", "pilot",
    "translator", "copywriter", "strategist", "instructor", "professor", "lecturer",
];

/// Lowercase words of `text` (letters, digits, `'`, `-`, `:`), for cue matching.
pub fn words(text: &str) -> Vec<String> {
    text.replace('’', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == ':'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.trim_matches(|c| c == '\'' || c == '-' || c == ':')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `phrase` (lowercase words separated by spaces) occurs in `ws`.
pub fn has_phrase(ws: &[String], phrase: &str) -> bool {
    // Called for every cue of every slot on every sentence of a dream
    // pass: no allocation, and a first word absent ends it at once.
    let first = phrase.split(' ').next().unwrap_or(phrase);
    let n = phrase.split(' ').count();
    ws.iter().enumerate().any(|(i, w)| {
        w == first
            && i + n <= ws.len()
            && ws[i..i + n]
                .iter()
                .zip(phrase.split(' '))
                .all(|(a, b)| a == b)
    })
}

/// Strong single words and phrases weigh 2, weak (`~`) words 1.
fn weight(ws: &[String], phrases: &[&str]) -> usize {
    phrases
        .iter()
        .map(|c| match c.strip_prefix('~') {
            Some(w) => (w, 1),
            None => (*c, 2),
        })
        .filter(|(c, _)| has_phrase(ws, c))
        .map(|(_, w)| w)
        .sum()
}

fn best(score: impl Fn(&SlotDef) -> usize) -> Option<&'static SlotDef> {
    let mut best: Option<(&SlotDef, usize)> = None;
    for s in SLOTS {
        let w = score(s);
        if w > 0 && best.is_none_or(|(_, b)| w > b) {
            best = Some((s, w));
        }
    }
    best.map(|(s, _)| s)
}

/// The slot a statement speaks about, by its cue words and value words.
pub fn statement_slot(ws: &[String]) -> Option<&'static SlotDef> {
    best(|s| {
        let w = weight(ws, s.cues) + weight(ws, s.values);
        if w >= 2 { w } else { 0 }
    })
}

/// The slot a question asks about.
pub fn query_slot(query: &str) -> Option<&'static SlotDef> {
    let ws = words(query);
    best(|s| weight(&ws, s.query_cues) * 2 + weight(&ws, s.cues) + weight(&ws, s.values))
}

/// A slot by name.
pub fn slot(name: &str) -> Option<&'static SlotDef> {
    SLOTS.iter().find(|s| s.name == name)
}

impl SlotDef {
    /// Whether one of `ws` is a value word of this slot (a diet, a job).
    pub fn has_value_word(&self, ws: &[String]) -> bool {
        self.values.iter().any(|v| has_phrase(ws, v))
    }

    /// Slots whose values are common nouns or numbers rather than names.
    pub fn lowercase_values(&self) -> bool {
        matches!(
            self.name,
            "diet" | "hobby" | "job_title" | "run_pr" | "course"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: &str) -> Option<&'static str> {
        statement_slot(&words(s)).map(|d| d.name)
    }

    fn q(s: &str) -> Option<&'static str> {
        query_slot(s).map(|d| d.name)
    }

    #[test]
    fn statements_find_their_slot() {
        assert_eq!(
            st("I bought a Skoda Octavia last week, the car is great"),
            Some("car")
        );
        assert_eq!(
            st("I live in Austin, and the weather is odd"),
            Some("residence")
        );
        assert_eq!(
            st("I work at Corvid Labs, so Mondays are meetings"),
            Some("employer")
        );
        assert_eq!(
            st("I got promoted to data analyst last week"),
            Some("job_title")
        );
        assert_eq!(
            st("My kid started at Oakridge Elementary"),
            Some("kid_school")
        );
        assert_eq!(st("We adopted a dachshund named Figaro"), Some("pet"));
        assert_eq!(st("I upgraded to an iPhone 15 last week"), Some("phone"));
        assert_eq!(st("I decided to go keto, starting yesterday"), Some("diet"));
        assert_eq!(st("My half marathon PR is now 1:45:21"), Some("run_pr"));
        assert_eq!(st("The weather was lovely today"), None);
    }

    #[test]
    fn questions_find_their_slot() {
        assert_eq!(q("What car does Silas drive now?"), Some("car"));
        assert_eq!(q("Where does Maya live now?"), Some("residence"));
        assert_eq!(q("Where does Maya work now?"), Some("employer"));
        assert_eq!(q("What is Maya's job title now?"), Some("job_title"));
        assert_eq!(
            q("Which school does Maya's kid go to now?"),
            Some("kid_school")
        );
        assert_eq!(q("What phone does Maya use now?"), Some("phone"));
        assert_eq!(q("Who is Maya's partner now?"), Some("partner"));
        assert_eq!(q("What is Maya's half marathon PR?"), Some("run_pr"));
        assert_eq!(q("How was the weather?"), None);
    }
}
