//! The baseline the sublist benchmarks compare against: nats-server's design
//! (`docs/architecture.md#the-tries-semantics`) transcribed to Rust — a trie of hash maps behind one
//! `parking_lot::RwLock`, and a `Mutex<HashMap>` match cache that caches every
//! subject (empty results too), is patched on insert, invalidated on remove,
//! and swept to 256 entries when it passes 1024.
//!
//! It exists only to put every figure of ours next to the design we replace,
//! in the same run. It is not used by the server.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub struct Result<S> {
    pub plain: Vec<S>,
    pub queues: Vec<(Arc<str>, Vec<S>)>,
}

impl<S> Result<S> {
    pub fn len(&self) -> usize {
        self.plain.len() + self.queues.len()
    }
}

struct Node<S> {
    next: Option<Box<Level<S>>>,
    plain: Vec<S>,
    queues: HashMap<Arc<str>, Vec<S>>,
}

struct Level<S> {
    nodes: HashMap<String, Node<S>>,
    pwc: Option<Box<Node<S>>>,
    fwc: Option<Box<Node<S>>>,
}

impl<S> Default for Level<S> {
    fn default() -> Self {
        Self {
            nodes: HashMap::new(),
            pwc: None,
            fwc: None,
        }
    }
}

impl<S> Default for Node<S> {
    fn default() -> Self {
        Self {
            next: None,
            plain: Vec::new(),
            queues: HashMap::new(),
        }
    }
}

pub struct GoSublist<S> {
    root: RwLock<Level<S>>,
    cache: Mutex<HashMap<String, Arc<Result<S>>>>,
}

const CACHE_MAX: usize = 1024;
const CACHE_SWEEP_TO: usize = 256;

impl<S: Clone + PartialEq> GoSublist<S> {
    pub fn new() -> Self {
        Self {
            root: RwLock::new(Level::default()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn insert(&self, subject: &str, queue: Option<&str>, value: S) {
        let mut root = self.root.write();
        let tokens: Vec<&str> = subject.split('.').collect();
        let node = node_or_insert(&mut root, &tokens);
        match queue {
            None => node.plain.push(value.clone()),
            Some(q) => node
                .queues
                .entry(Arc::from(q))
                .or_default()
                .push(value.clone()),
        }
        // Go patches cached results that the new subscription matches.
        let mut cache = self.cache.lock();
        for (key, result) in cache.iter_mut() {
            if matches(subject, key) {
                let mut plain = result.plain.clone();
                let mut queues = result.queues.clone();
                match queue {
                    None => plain.push(value.clone()),
                    Some(q) => match queues.iter_mut().find(|(n, _)| &**n == q) {
                        Some((_, m)) => m.push(value.clone()),
                        None => queues.push((Arc::from(q), vec![value.clone()])),
                    },
                }
                *result = Arc::new(Result { plain, queues });
            }
        }
    }

    pub fn remove(&self, subject: &str, value: &S) {
        let mut root = self.root.write();
        let mut level = &mut *root;
        let tokens: Vec<&str> = subject.split('.').collect();
        for (i, t) in tokens.iter().enumerate() {
            let n = match *t {
                "*" => level.pwc.as_deref_mut(),
                ">" => level.fwc.as_deref_mut(),
                lit => level.nodes.get_mut(lit),
            };
            let Some(n) = n else { return };
            if i + 1 == tokens.len() {
                n.plain.retain(|s| s != value);
                break;
            }
            let Some(next) = n.next.as_deref_mut() else {
                return;
            };
            level = next;
        }
        let mut cache = self.cache.lock();
        cache.retain(|key, _| !matches(subject, key));
    }

    pub fn matches(&self, subject: &str) -> Arc<Result<S>> {
        if let Some(r) = self.cache.lock().get(subject) {
            return r.clone();
        }
        let root = self.root.read();
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut out = Result {
            plain: Vec::new(),
            queues: Vec::new(),
        };
        match_level(&root, &tokens, &mut out);
        let out = Arc::new(out);
        let mut cache = self.cache.lock();
        cache.insert(subject.to_string(), out.clone());
        if cache.len() > CACHE_MAX {
            let excess = cache.len() - CACHE_SWEEP_TO;
            let doomed: Vec<String> = cache.keys().take(excess).cloned().collect();
            for k in doomed {
                cache.remove(&k);
            }
        }
        out
    }
}

fn node_or_insert<'a, S>(level: &'a mut Level<S>, tokens: &[&str]) -> &'a mut Node<S> {
    let node: &mut Node<S> = match tokens[0] {
        "*" => level.pwc.get_or_insert_with(Default::default),
        ">" => level.fwc.get_or_insert_with(Default::default),
        lit => level.nodes.entry(lit.to_string()).or_default(),
    };
    if tokens.len() == 1 {
        return node;
    }
    node_or_insert(node.next.get_or_insert_with(Default::default), &tokens[1..])
}

fn add<S: Clone>(n: &Node<S>, out: &mut Result<S>) {
    out.plain.extend_from_slice(&n.plain);
    for (q, members) in &n.queues {
        match out.queues.iter_mut().find(|(name, _)| name == q) {
            Some((_, m)) => m.extend_from_slice(members),
            None => out.queues.push((q.clone(), members.clone())),
        }
    }
}

fn match_level<S: Clone>(mut level: &Level<S>, tokens: &[&str], out: &mut Result<S>) {
    let mut pwc = None;
    let mut node = None;
    for (i, t) in tokens.iter().enumerate() {
        if let Some(f) = &level.fwc {
            add(f, out);
        }
        pwc = level.pwc.as_deref();
        if let Some(p) = pwc {
            if let Some(next) = &p.next {
                match_level(next, &tokens[i + 1..], out);
            }
        }
        node = level.nodes.get(*t);
        match node.and_then(|n| n.next.as_deref()) {
            Some(next) => level = next,
            None if i + 1 < tokens.len() => return,
            None => {}
        }
    }
    if let Some(n) = node {
        add(n, out);
    }
    if let Some(p) = pwc {
        add(p, out);
    }
}

fn matches(pattern: &str, subject: &str) -> bool {
    sublist::subject::pattern_matches(pattern, subject)
}
