//! What every area model repeats, said once.
//!
//! - [`flaws!`](crate::kit::flaws): one declaration per flaw (its doc, its
//!   kebab-case name, the claims it breaks, one sentence on the mechanism it
//!   removes) generating the `Flaw` enum, `ALL`, `name()`, `breaks()`,
//!   `description()`, `from_name()`, `Display` and [`FlawTable`].
//! - [`claim_pairs!`](crate::kit::claim_pairs): the `always`/`sometimes`
//!   property pair of every claim, over a state with a `broken` ghost
//!   [`ClaimSet`] and a `last` ghost witness.
//! - [`forward_model_to_step!`](crate::kit::forward_model_to_step): the
//!   [`stateright::Model`] impl whose `next_state` is
//!   [`TracedModel::step`](crate::TracedModel::step) without the outcome.
//! - [`AreaContract`]: the per-area model test contract (state count pinned,
//!   no flaw breaks nothing and reaches every allowed case, every flaw breaks
//!   exactly the claims it names, every witness is a step its claim's oracle
//!   judged), which `model/tests/it/` runs per area.
//!
//! # Witnesses that witness what they constrain
//!
//! A `sometimes` shows that a claim's allowed case is reached; it proves
//! nothing if the state it finds is one where the `always` could not have
//! been broken (the storage back end's reply "witnessing" that an FA answers
//! the FC). So each area names, per step, what its oracle *judged*: a
//! [`Judged`] is a claim whose premise held on the step (the step did the
//! thing the claim speaks of: an FA's packet reached a privileged node, a
//! TLS endpoint accepted a client, the FC got a hostile answer), together
//! with the *situation*, one short word for which of the claim's cases it
//! was (NET-14 names three channels, so it has three). The contract then
//! checks, over every transition of the correct model and of every flaw's:
//!
//! 1. **No vacuous witness.** Every step into a state where claim C's
//!    `sometimes` holds judged C.
//! 2. **No unjudged break.** Every step on which C's `always` starts to fail
//!    (under any flaw) judged C; so a judge cannot be narrower than the
//!    oracle it describes.
//! 3. **Witnessed where it breaks.** Every situation of C on which some flaw
//!    breaks C is the situation of some witness step of C without a flaw:
//!    the allowed case is shown exactly where the claim could have failed.
//!
//! It is falsifiable from both sides: a witness set on a step the oracle
//! does not judge fails (1), a judge that hides a break fails (2), a claim
//! whose flaws break it in a case no witness shows fails (3). A judge that
//! claims more than its oracle looks at is not caught mechanically; it is
//! plain code beside the oracle, to be read with it.

use crate::claims::{claim_of_property, ClaimId, ClaimSet};
use crate::trace::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::{Checker, Expectation, Model};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::{Debug, Display};
use std::hash::{Hash, Hasher};

/// An area's table of deliberate defects, as [`flaws!`](crate::kit::flaws)
/// generates it; lets area-independent code (the test contract) walk it.
pub trait FlawTable: Copy + Eq + Debug + Display + 'static {
    /// Every flaw, in a fixed order.
    fn all() -> &'static [Self];
    /// The flaw's name in kebab case, as the CLI takes it.
    fn flaw_name(self) -> &'static str;
    /// The claims this flaw breaks; the checker must find exactly these.
    fn claims_broken(self) -> ClaimSet;
    /// One sentence on the mechanism the flaw removes.
    fn flaw_description(self) -> &'static str;
}

/// What a model says of an action that names a party outside its bounds
/// (a hand-edited trace): never a panic, always this sentence.
pub fn out_of_bounds_words(kind: &str) -> String {
    format!("{kind} names a party outside the model's bounds")
}

/// Declares an area's `Flaw` enum from one line per flaw:
///
/// ```text
/// flaws! {
///     /// A deliberate defect.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
///     pub enum Flaw {
///         /// The FA merges a pushed list into the old one.
///         FaMergesLists => "fa-merges-lists", [NET-8, NET-9],
///             "the FA adds pushed IPs but never removes a moved instance's old IP";
///     }
/// }
/// ```
///
/// It generates the enum (with the attributes and docs given), `ALL` (every
/// flaw in declaration order), `breaks()`, `name()`, `description()`,
/// `from_name()`, `Display` (the name) and [`FlawTable`].
macro_rules! flaws {
    (
        $(#[$meta:meta])*
        pub enum $Flaw:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $name:literal, [$($prefix:ident - $n:literal),+ $(,)?], $description:literal;
            )+
        }
    ) => {
        $(#[$meta])*
        pub enum $Flaw {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $Flaw {
            /// Every flaw, in a fixed order.
            pub const ALL: [$Flaw; [$(stringify!($variant)),+].len()] = [$($Flaw::$variant),+];

            /// The claims this flaw breaks (numbers of this area's claim
            /// sets); the checker must find exactly these.
            pub const fn breaks(self) -> $crate::claims::ClaimSet {
                match self {
                    $($Flaw::$variant => $crate::claims![$($prefix - $n),+],)+
                }
            }

            /// The flaw's name in kebab case, as the CLI takes it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($Flaw::$variant => $name,)+
                }
            }

            /// One sentence on the mechanism the flaw removes.
            pub const fn description(self) -> &'static str {
                match self {
                    $($Flaw::$variant => $description,)+
                }
            }

            /// Parses a flaw by its kebab-case name.
            pub fn from_name(name: &str) -> Option<$Flaw> {
                $Flaw::ALL.into_iter().find(|f| f.name() == name)
            }
        }

        impl ::std::fmt::Display for $Flaw {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $crate::kit::FlawTable for $Flaw {
            fn all() -> &'static [Self] {
                &$Flaw::ALL
            }
            fn flaw_name(self) -> &'static str {
                self.name()
            }
            fn claims_broken(self) -> $crate::claims::ClaimSet {
                self.breaks()
            }
            fn flaw_description(self) -> &'static str {
                self.description()
            }
        }
    };
}
pub(crate) use flaws;

/// Every property of an area, a pair per claim: the claim as an `always`
/// over the sticky ghost (`!s.broken.contains(claim)`) and its allowed case as a
/// `sometimes` over the latest witness (`s.last` is one of the witnesses).
///
/// ```text
/// claim_pairs![NetworkState, Witness;
///     NET-1, "NET-1 ...", "NET-1 reached: ...", [FcGotReply];
/// ]
/// ```
macro_rules! claim_pairs {
    ($State:ty, $Witness:ident;
        $($prefix:ident - $n:literal, $always:literal, $sometimes:literal, [$($w:ident),+];)+
    ) => {
        vec![$(
            ::stateright::Property::always($always, |_, s: &$State| {
                !s.broken.contains($crate::claim!($prefix - $n))
            }),
            ::stateright::Property::sometimes($sometimes, |_, s: &$State| {
                matches!(s.last, $(Some($Witness::$w))|+)
            }),
        )+]
    };
}
pub(crate) use claim_pairs;

/// The [`stateright::Model`] impl of an area model whose `next_state` is
/// [`TracedModel::step`](crate::TracedModel::step) without the outcome and
/// whose `format_step` is the step's narrative and `format_action` the
/// action's [`describe_action`](crate::TracedModel::describe_action), so the
/// explorer shows words, not `Debug`. The model provides
/// `initial_states()`, `candidate_actions(state, out)` and the properties
/// function named here.
macro_rules! forward_model_to_step {
    ($Model:ty, $State:ty, $Action:ty, $properties:path) => {
        impl ::stateright::Model for $Model {
            type State = $State;
            type Action = $Action;

            fn init_states(&self) -> Vec<$State> {
                self.initial_states()
            }

            fn actions(&self, state: &$State, actions: &mut Vec<$Action>) {
                self.candidate_actions(state, actions);
            }

            fn next_state(&self, last_state: &$State, action: $Action) -> Option<$State> {
                $crate::TracedModel::step(self, last_state, &action).map(|(_, s)| s)
            }

            fn format_action(&self, action: &$Action) -> String {
                $crate::TracedModel::describe_action(self, action)
            }

            fn format_step(&self, last_state: &$State, action: $Action) -> Option<String> {
                let (outcome, _) = $crate::TracedModel::step(self, last_state, &action)?;
                Some($crate::TracedModel::narrate(
                    self, last_state, &action, &outcome,
                ))
            }

            fn properties(&self) -> Vec<::stateright::Property<Self>> {
                $properties()
            }
        }
    };
}
pub(crate) use forward_model_to_step;

/// What one single-threaded depth-first check of a model found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdicts {
    /// The claims (by number) whose `always` property has a counterexample.
    pub broken: ClaimSet,
    /// The `sometimes` properties never reached.
    pub unreached: Vec<&'static str>,
    /// The distinct states explored.
    pub unique_states: usize,
}

/// Checks `model` single-threaded and depth-first; a broken `always` is
/// the claim its name starts with.
///
/// # Panics
/// If an `always` property has a counterexample and its name names no claim.
pub fn verdicts<M>(model: M) -> Verdicts
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync,
{
    let properties = model.properties();
    let checker = model.checker().threads(1).spawn_dfs().join();
    let mut broken = ClaimSet::EMPTY;
    let mut unreached = Vec::new();
    for p in &properties {
        let found = checker.discovery(p.name).is_some();
        match p.expectation {
            Expectation::Always if found => {
                broken.insert(claim_of_property(p.name).expect("named by claim"))
            }
            Expectation::Sometimes if !found => unreached.push(p.name),
            _ => {}
        }
    }
    Verdicts {
        broken,
        unreached,
        unique_states: checker.unique_state_count(),
    }
}

/// One claim an oracle judged on a step: the claim's premise held, so its
/// `always` could have been broken there; `situation` says which of the
/// claim's cases it was (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Judged {
    /// The claim.
    pub claim: ClaimId,
    /// Which of the claim's cases the step was, in one short word.
    pub situation: &'static str,
}

/// An area's judge: what its oracle judged on the step from `before` by
/// `action`, with `outcome`, to `after`.
pub type Judge<M> = fn(
    &M,
    &<M as Model>::State,
    &<M as Model>::Action,
    &<M as TracedModel>::Outcome,
    &<M as Model>::State,
) -> Vec<Judged>;

/// The contract every area model keeps, checked by [`AreaContract::check`].
pub struct AreaContract<M: TracedModel, F>
where
    M::Action: Serialize + DeserializeOwned,
{
    /// Builds the model at its default bounds with the given flaw.
    pub build: fn(Option<F>) -> M,
    /// The claims the area's model checks: each needs one `always`, one
    /// `sometimes` and a flaw that breaks it, and no property names another.
    pub claims: ClaimSet,
    /// The pinned number of distinct states at the default bounds.
    pub states: usize,
    /// What the area's oracle judged on a step (see the module docs).
    pub judge: Judge<M>,
}

/// What one breadth-first walk over every transition of a model found,
/// for the contract; its state set is the checker's.
#[derive(Default)]
struct Walk {
    /// Distinct states.
    states: usize,
    /// Claims whose `always` fails somewhere.
    broken: ClaimSet,
    /// Situations judged on witness steps, per claim.
    witnessed: BTreeSet<Judged>,
    /// Situations judged on breaking steps, per claim.
    broke_in: BTreeSet<Judged>,
    /// What is wrong: vacuous witnesses and unjudged breaks, one line each
    /// (the first few per claim).
    problems: BTreeSet<String>,
}

/// Walks every transition of `model`; a step on which some property's
/// claim starts to fail, or (with `judge_witnesses`) reaches its `sometimes`, is
/// handed to `judge`.
fn walk<M>(model: &M, judge: Judge<M>, judge_witnesses: bool) -> Walk
where
    M: TracedModel,
    M::State: Clone + Debug + Hash + Eq,
    M::Action: Clone + Debug + Serialize + DeserializeOwned,
{
    let properties = model.properties();
    assert!(properties.len() <= 64, "a state's mask holds 64 properties");
    // Bit i of a state's mask: property i is violated (always) or holds (sometimes).
    let mask = |s: &M::State| -> u64 {
        let mut m = 0;
        for (i, p) in properties.iter().enumerate() {
            let holds = (p.condition)(model, s);
            let flagged = match p.expectation {
                Expectation::Always => !holds,
                _ => holds,
            };
            if flagged {
                m |= 1 << i;
            }
        }
        m
    };
    let always: u64 = (0..properties.len())
        .filter(|i| properties[*i].expectation == Expectation::Always)
        .fold(0, |m, i| m | 1 << i);
    // States by fingerprint, as the checker keeps them.
    let fingerprint = |s: &M::State| {
        let mut h = std::hash::DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    };
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        let m = mask(&s);
        if seen.insert(fingerprint(&s), m).is_none() {
            queue.push_back((s, m));
        }
    }
    let mut found = Walk::default();
    let mut actions = Vec::new();
    let mut complaints: HashMap<ClaimId, usize> = HashMap::new();
    while let Some((s, before)) = queue.pop_front() {
        actions.clear();
        model.actions(&s, &mut actions);
        for action in &actions {
            let Some((outcome, next)) = model.step(&s, action) else {
                continue;
            };
            let after = match seen.entry(fingerprint(&next)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let m = mask(&next);
                    e.insert(m);
                    queue.push_back((next.clone(), m));
                    m
                }
            };
            let breaks = after & always & !before;
            let witnesses = if judge_witnesses { after & !always } else { 0 };
            if breaks | witnesses == 0 {
                continue;
            }
            let judged = judge(model, &s, action, &outcome, &next);
            for (i, p) in properties.iter().enumerate() {
                if (breaks | witnesses) & (1 << i) == 0 {
                    continue;
                }
                let Some(claim) = claim_of_property(p.name) else {
                    continue;
                };
                let mine: Vec<Judged> = judged
                    .iter()
                    .filter(|j| j.claim == claim)
                    .copied()
                    .collect();
                let breaking = breaks & (1 << i) != 0;
                if breaking {
                    found.broken.insert(claim);
                    found.broke_in.extend(&mine);
                } else {
                    found.witnessed.extend(&mine);
                }
                let n = complaints.entry(claim).or_default();
                if mine.is_empty() && *n < 3 {
                    let what = if breaking {
                        "is broken on a step its oracle did not judge"
                    } else {
                        "is witnessed by a step its oracle did not judge"
                    };
                    if found
                        .problems
                        .insert(format!("{claim} {what}: {action:?} -> {outcome:?}"))
                    {
                        *n += 1;
                    }
                }
            }
        }
    }
    found.states = seen.len();
    found
}

impl<M, F> AreaContract<M, F>
where
    M: TracedModel + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + Eq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned,
    F: FlawTable,
{
    /// Asserts the contract: at the default bounds the state count is the
    /// pinned one, without a flaw no claim is broken and every allowed case
    /// is reached, every flaw breaks exactly the claims it names, and every
    /// witness is one where its claim could have been broken (the module
    /// docs' three rules).
    ///
    /// # Panics
    /// On the first part of the contract that does not hold; the witness
    /// rules list every claim that fails them.
    pub fn check(&self) {
        let ids = ClaimSet::labels;
        self.check_names();
        let correct = verdicts((self.build)(None));
        // A change here is a change of the state space: review it.
        assert_eq!(correct.unique_states, self.states, "pinned state count");
        assert!(
            correct.broken.is_empty(),
            "broken without a flaw: {:?}",
            ids(correct.broken)
        );
        assert!(
            correct.unreached.is_empty(),
            "never reached: {:?}",
            correct.unreached
        );
        let witnessed = walk(&(self.build)(None), self.judge, true);
        assert_eq!(
            witnessed.states, correct.unique_states,
            "the walk is the checker's"
        );
        let mut problems: Vec<String> = witnessed.problems.into_iter().collect();
        let mut broke_in = BTreeSet::new();
        for &flaw in F::all() {
            // The walk evaluates the very property conditions over the
            // same transitions as the checker, so its verdicts are the
            // checker's; one walk per flaw serves both parts.
            let found = walk(&(self.build)(Some(flaw)), self.judge, false);
            assert_eq!(
                ids(found.broken),
                ids(flaw.claims_broken()),
                "flaw {flaw} breaks other claims than it names"
            );
            problems.extend(
                found
                    .problems
                    .into_iter()
                    .map(|p| format!("under {flaw}: {p}")),
            );
            broke_in.extend(found.broke_in);
        }
        for j in broke_in.difference(&witnessed.witnessed) {
            problems.push(format!(
                "{} is broken by a flaw in situation {:?}, which no witness step shows",
                j.claim, j.situation
            ));
        }
        assert!(
            problems.is_empty(),
            "witnesses that do not witness what they constrain:\n{}",
            problems.join("\n")
        );
    }

    /// Each claim has one `always`, one `sometimes` and a flaw that breaks
    /// it, and no property names a claim outside the area's.
    fn check_names(&self) {
        let properties = (self.build)(None).properties();
        for claim in self.claims.iter() {
            let named: Vec<_> = properties
                .iter()
                .filter(|p| claim_of_property(p.name) == Some(claim))
                .map(|p| p.expectation.clone())
                .collect();
            assert!(
                named.len() == 2
                    && named.contains(&Expectation::Always)
                    && named.contains(&Expectation::Sometimes),
                "{claim} needs one always and one sometimes, has {named:?}"
            );
            assert!(
                F::all().iter().any(|f| f.claims_broken().contains(claim)),
                "{claim} has no flaw that breaks it"
            );
        }
        assert_eq!(
            properties.len(),
            2 * self.claims.len(),
            "a property names a claim outside the area's"
        );
    }
}
