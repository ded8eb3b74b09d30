//! Command names to table positions, ASCII case-insensitively, without
//! allocating: every request looks its name up twice (routing, then apply),
//! and a scan of the ~200-entry table measured ~3% of LPUSH `-P 16`.

/// Longer names are in no table: they are refused before any hashing.
pub const MAX_NAME_LEN: usize = 32;

/// An open-addressing index (FNV-1a over the lowercased name, linear
/// probing, at most half full) into a static table of unique names.
pub struct NameIndex {
    /// Position + 1 of the name that hashed here, or 0 for empty.
    slots: Box<[u16]>,
}

impl NameIndex {
    pub fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> NameIndex {
        let count = names.len();
        assert!(count < u16::MAX as usize, "a command table fits u16 positions");
        let mut slots = vec![0u16; (count * 2).next_power_of_two().max(16)].into_boxed_slice();
        let mask = slots.len() - 1;
        for (position, name) in names.enumerate() {
            assert!(name.len() <= MAX_NAME_LEN, "command name {name} is longer than MAX_NAME_LEN");
            let mut slot = hash(name.as_bytes()) & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = position as u16 + 1;
        }
        NameIndex { slots }
    }

    /// The position of `name` in the table, where `is(position)` confirms a
    /// candidate (the caller compares the names).
    pub fn find(&self, name: &[u8], is: impl Fn(usize) -> bool) -> Option<usize> {
        if name.len() > MAX_NAME_LEN {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = hash(name) & mask;
        loop {
            let position = (self.slots[slot] as usize).checked_sub(1)?;
            if is(position) {
                return Some(position);
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// The last name looked up and what it resolved to: a pipeline, like a
/// batch, mostly repeats one command, and comparing its bytes costs less
/// than hashing and comparing case-insensitively (~170 instructions a
/// lookup). Exact bytes only: other spellings take the full lookup.
#[derive(Clone, Copy, Debug)]
pub struct LastName<T: Copy> {
    name: [u8; MAX_NAME_LEN],
    len: usize,
    value: Option<T>,
}

impl<T: Copy> Default for LastName<T> {
    fn default() -> LastName<T> {
        LastName { name: [0; MAX_NAME_LEN], len: 0, value: None }
    }
}

impl<T: Copy> LastName<T> {
    /// `lookup(name)`, remembered for the next call with the same bytes.
    pub fn get(&mut self, name: &[u8], lookup: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
        if let Some(value) = self.hit(name) {
            return Some(value);
        }
        let value = lookup(name);
        self.remember(name, value);
        value
    }

    fn hit(&self, name: &[u8]) -> Option<T> {
        let same = name.len() == self.len && name == &self.name[..self.len];
        self.value.filter(|_| same)
    }

    /// Only hits are remembered: an unknown name stays an error path.
    fn remember(&mut self, name: &[u8], value: Option<T>) {
        if value.is_some() && name.len() <= MAX_NAME_LEN {
            self.name[..name.len()].copy_from_slice(name);
            self.len = name.len();
            self.value = value;
        }
    }
}

/// The last `N` names looked up, for callers that cycle through a few
/// commands (a script's `redis.call`s), replaced oldest first.
#[derive(Clone, Copy, Debug)]
pub struct RecentNames<T: Copy, const N: usize> {
    names: [LastName<T>; N],
    /// Where the next name looked up is remembered.
    next: usize,
}

impl<T: Copy, const N: usize> Default for RecentNames<T, N> {
    fn default() -> RecentNames<T, N> {
        RecentNames { names: [LastName::default(); N], next: 0 }
    }
}

impl<T: Copy, const N: usize> RecentNames<T, N> {
    /// `lookup(name)`, remembered for later calls with the same bytes.
    pub fn get(&mut self, name: &[u8], lookup: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
        if let Some(value) = self.names.iter().find_map(|last| last.hit(name)) {
            return Some(value);
        }
        let value = lookup(name);
        if value.is_some() {
            self.names[self.next].remember(name, value);
            self.next = (self.next + 1) % N;
        }
        value
    }
}

fn hash(name: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in name {
        h = (h ^ b.to_ascii_lowercase() as u32).wrapping_mul(0x0100_0193);
    }
    h as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_name_in_any_case_and_nothing_else() {
        let names: Vec<String> = (0..300).map(|i| format!("cmd{i}")).collect();
        let index = NameIndex::new(names.iter().map(String::as_str));
        let find = |name: &[u8]| index.find(name, |p| names[p].as_bytes().eq_ignore_ascii_case(name));
        for (position, name) in names.iter().enumerate() {
            assert_eq!(find(name.as_bytes()), Some(position));
            assert_eq!(find(name.to_ascii_uppercase().as_bytes()), Some(position));
        }
        assert_eq!(find(b"cmd300"), None);
        assert_eq!(find(b""), None);
        assert_eq!(find(&[b'x'; MAX_NAME_LEN + 1]), None);
    }

    #[test]
    fn the_last_name_is_remembered_by_its_exact_bytes() {
        let mut last = LastName::default();
        let mut lookups = 0;
        let mut get = |last: &mut LastName<usize>, name: &[u8]| {
            last.get(name, |n| {
                lookups += 1;
                (n.eq_ignore_ascii_case(b"get") || n.eq_ignore_ascii_case(b"set")).then_some(n.len() + n[0] as usize)
            })
        };
        assert_eq!(get(&mut last, b"get"), Some(3 + b'g' as usize));
        assert_eq!(get(&mut last, b"get"), Some(3 + b'g' as usize));
        assert_eq!(get(&mut last, b"GET"), Some(3 + b'G' as usize), "another spelling is looked up");
        assert_eq!(get(&mut last, b"ge"), None);
        assert_eq!(get(&mut last, b"ge"), None, "misses are not remembered");
        assert_eq!(get(&mut last, b"GET"), Some(3 + b'G' as usize));
        assert_eq!(lookups, 4);
    }

    #[test]
    fn recent_names_remember_the_last_few_by_their_exact_bytes() {
        let mut recent: RecentNames<usize, 2> = RecentNames::default();
        let lookups = std::cell::Cell::new(0);
        let get = |recent: &mut RecentNames<usize, 2>, name: &[u8]| {
            recent.get(name, |n| {
                lookups.set(lookups.get() + 1);
                (n != b"nope").then_some(n.len())
            })
        };
        for _ in 0..3 {
            assert_eq!(get(&mut recent, b"get"), Some(3));
            assert_eq!(get(&mut recent, b"decrby"), Some(6));
        }
        assert_eq!(lookups.get(), 2, "two names cycled through are looked up once each");
        assert_eq!(get(&mut recent, b"nope"), None);
        assert_eq!(get(&mut recent, b"nope"), None, "misses are not remembered");
        assert_eq!(get(&mut recent, b"xadd"), Some(4), "replaces the oldest, get");
        assert_eq!(get(&mut recent, b"decrby"), Some(6));
        assert_eq!(get(&mut recent, b"get"), Some(3));
        assert_eq!(lookups.get(), 6);
    }
}
