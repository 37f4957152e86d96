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
//!   exactly the claims it names), which `model/tests/it/` runs per area.

use crate::claims::{claim_of_property, ClaimSet};
use stateright::{Checker, Expectation, Model};
use std::fmt::{Debug, Display};
use std::hash::Hash;

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

/// The contract every area model keeps, checked by [`AreaContract::check`].
pub struct AreaContract<M, F> {
    /// Builds the model at its default bounds with the given flaw.
    pub build: fn(Option<F>) -> M,
    /// The claims the area's model checks: each needs one `always`, one
    /// `sometimes` and a flaw that breaks it, and no property names another.
    pub claims: ClaimSet,
    /// The pinned number of distinct states at the default bounds.
    pub states: usize,
}

impl<M, F> AreaContract<M, F>
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync,
    F: FlawTable,
{
    /// Asserts the contract: at the default bounds the state count is the
    /// pinned one, without a flaw no claim is broken and every allowed case
    /// is reached, and every flaw breaks exactly the claims it names.
    ///
    /// # Panics
    /// On the first part of the contract that does not hold.
    pub fn check(&self) {
        let ids = ClaimSet::labels;
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
        for &flaw in F::all() {
            let found = verdicts((self.build)(Some(flaw)));
            assert_eq!(
                ids(found.broken),
                ids(flaw.claims_broken()),
                "flaw {flaw} breaks other claims than it names"
            );
        }
    }
}
