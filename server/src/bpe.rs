//! A count-only copy of one tiktoken BPE encoding, about an eighth of `tiktoken_rs::CoreBPE`'s memory
//! (issue 12: the o200k `CoreBPE` held ~48 MiB, most of an idle server).
//!
//! `CoreBPE` keeps every token three times as its own heap `Vec<u8>` (the encoder map, the decoder
//! map and a sorted list) and 256 copies of its regexes; counting needs only bytes -> rank. Here the
//! token bytes live in one buffer, and a hash table of bare ranks (4 bytes an entry) finds a
//! token's rank by hashing its bytes and comparing them with the buffer. The ranks are read once
//! from a `CoreBPE` built from the ranks `tiktoken-rs` embeds, which is then dropped; the merge
//! loop is tiktoken's own (`tiktoken-rs` `vendor_tiktoken.rs`, `_byte_pair_merge` and
//! `_byte_pair_merge_large`), so the counts are tiktoken's. No request path builds anything.

use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use fancy_regex::Regex;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use tiktoken_rs::{CoreBPE, Rank};

/// Pieces at least this long merge with a heap, as tiktoken does (linear scans are quadratic).
const LARGE_PIECE: usize = 100;

/// Token bytes -> rank, and the split pattern, of one encoding.
pub struct Bpe {
    /// Every ordinary token's bytes, in rank order.
    all: Box<[u8]>,
    /// Where each token ends in `all` (it starts where the one before ends).
    ends: Box<[u32]>,
    /// Ranks, hashed by their token's bytes.
    ranks: HashTable<Rank>,
    regex: Regex,
}

impl Bpe {
    /// The ordinary tokens of `core` (ranks 0, 1, … up to the first gap: special tokens are never
    /// counted here), concatenated, with the end of each.
    pub fn tokens_of(core: &CoreBPE) -> (Vec<u8>, Vec<usize>) {
        let (mut all, mut ends) = (Vec::new(), Vec::new());
        for rank in 0.. {
            let Ok(token) = core.decode_bytes(&[rank]) else {
                break;
            };
            all.extend_from_slice(&token);
            ends.push(all.len());
        }
        (all, ends)
    }

    /// The table of the tokens [`Bpe::tokens_of`] returned, split by `pattern` (the encoding's
    /// `*_PAT_STR`). Every allocation is new and exactly sized.
    pub fn new(all: &[u8], ends: &[usize], pattern: &str) -> Result<Self, fancy_regex::Error> {
        // The encodings' token bytes total a few MiB: their offsets fit a u32.
        let ends: Box<[u32]> = ends.iter().map_while(|&e| u32::try_from(e).ok()).collect();
        let mut bpe = Bpe {
            all: all.into(),
            ends,
            ranks: HashTable::with_capacity(0),
            regex: Regex::new(pattern)?,
        };
        let mut ranks = HashTable::with_capacity(bpe.ends.len());
        for rank in 0..bpe.ends.len() as Rank {
            let hash = FxBuildHasher.hash_one(bpe.token(rank));
            ranks.insert_unique(hash, rank, |&r| FxBuildHasher.hash_one(bpe.token(r)));
        }
        bpe.ranks = ranks;
        Ok(bpe)
    }

    /// The bytes of the token of `rank` (a rank the table holds).
    fn token(&self, rank: Rank) -> &[u8] {
        let i = rank as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.all[start..self.ends[i] as usize]
    }

    /// How many ordinary tokens the encoding has.
    pub fn vocabulary(&self) -> usize {
        self.ranks.len()
    }

    /// Ordinary tokens in `text` (what `CoreBPE::encode_ordinary(text).len()` returns).
    pub fn count(&self, text: &str) -> u64 {
        self.regex
            .find_iter(text)
            .filter_map(Result::ok)
            .map(|m| self.piece(m.as_str().as_bytes()) as u64)
            .sum()
    }

    /// Tokens of one piece of the split.
    fn piece(&self, piece: &[u8]) -> usize {
        // Every single byte is a token; a piece that is itself a token is one.
        if piece.len() <= 1 || self.rank(piece) != Rank::MAX {
            return piece.len().min(1);
        }
        if piece.len() < LARGE_PIECE {
            self.merge(piece)
        } else {
            self.merge_large(piece)
        }
    }

    /// The rank of the token `bytes`, or `Rank::MAX` if they are not one.
    fn rank(&self, bytes: &[u8]) -> Rank {
        let hash = FxBuildHasher.hash_one(bytes);
        self.ranks
            .find(hash, |&r| self.token(r) == bytes)
            .copied()
            .unwrap_or(Rank::MAX)
    }

    /// tiktoken's `_byte_pair_merge`: repeatedly merge the adjacent pair of lowest rank; the
    /// number of parts left is the number of tokens.
    fn merge(&self, piece: &[u8]) -> usize {
        // (start, rank of the pair starting here)
        let mut parts: Vec<(usize, Rank)> = Vec::with_capacity(piece.len() + 1);
        let mut min = (Rank::MAX, usize::MAX);
        for i in 0..piece.len() - 1 {
            let rank = self.rank(&piece[i..i + 2]);
            if rank < min.0 {
                min = (rank, i);
            }
            parts.push((i, rank));
        }
        parts.push((piece.len() - 1, Rank::MAX));
        parts.push((piece.len(), Rank::MAX));
        let get_rank = |parts: &Vec<(usize, Rank)>, i: usize| {
            if i + 3 < parts.len() {
                self.rank(&piece[parts[i].0..parts[i + 3].0])
            } else {
                Rank::MAX
            }
        };
        while min.0 != Rank::MAX {
            let i = min.1;
            if i > 0 {
                parts[i - 1].1 = get_rank(&parts, i - 1);
            }
            parts[i].1 = get_rank(&parts, i);
            parts.remove(i + 1);
            min = (Rank::MAX, usize::MAX);
            for (i, &(_, rank)) in parts[..parts.len() - 1].iter().enumerate() {
                if rank < min.0 {
                    min = (rank, i);
                }
            }
        }
        parts.len() - 1
    }

    /// tiktoken's `_byte_pair_merge_large`: the same merges, lowest rank first from a heap, with
    /// each part linked to its neighbours; the parts still standing are the tokens.
    fn merge_large(&self, piece: &[u8]) -> usize {
        let mut state: Vec<Part> = Vec::with_capacity(piece.len());
        state.push(Part::new(usize::MAX, 1));
        let mut heap = BinaryHeap::with_capacity(piece.len());
        for i in 0..piece.len() - 1 {
            let rank = self.rank(&piece[i..i + 2]);
            if rank != Rank::MAX {
                heap.push(Merge { start: i, rank });
                state[i].next_rank = rank;
            }
            state.push(Part::new(i, i + 2));
        }
        let potential =
            |state: &mut Vec<Part>, heap: &mut BinaryHeap<Merge>, start: usize, next_end: usize| {
                state[start].next_end = next_end;
                state[start].next_rank = Rank::MAX;
                if next_end <= piece.len() {
                    let rank = self.rank(&piece[start..next_end]);
                    if rank != Rank::MAX {
                        heap.push(Merge { start, rank });
                        state[start].next_rank = rank;
                    }
                }
            };
        while let Some(left) = heap.pop() {
            if left.rank != state[left.start].next_rank {
                continue; // invalidated by an earlier merge
            }
            let left_start = left.start;
            let right_start = state[left_start].end;
            let right_end = state[left_start].next_end;
            let right_next_end = state[right_start].next_end;
            state[left_start].end = right_end;
            potential(&mut state, &mut heap, left_start, right_next_end);
            if right_end < state.len() {
                state[right_end].prev = left_start;
            }
            if left_start > 0 {
                let prev_start = state[left_start].prev;
                potential(&mut state, &mut heap, prev_start, right_end);
            }
            state[right_start].next_rank = Rank::MAX;
        }
        let (mut tokens, mut i) = (0, 0);
        while i < state.len() {
            tokens += 1;
            i = state[i].end;
        }
        tokens
    }
}

/// One part of a piece being merged (`State` in tiktoken).
struct Part {
    prev: usize,
    end: usize,
    next_end: usize,
    next_rank: Rank,
}

impl Part {
    fn new(prev: usize, end: usize) -> Self {
        Part {
            prev,
            end,
            next_end: end + 1,
            next_rank: Rank::MAX,
        }
    }
}

/// A candidate merge; the heap pops the lowest rank first, then the leftmost.
#[derive(PartialEq, Eq)]
struct Merge {
    start: usize,
    rank: Rank,
}

impl Ord for Merge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .rank
            .cmp(&self.rank)
            .then_with(|| other.start.cmp(&self.start))
    }
}

impl PartialOrd for Merge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
