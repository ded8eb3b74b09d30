//! A stream entry's field-value pairs, packed into one allocation.
//!
//! Each item is a little-endian u32 length and its bytes. Against one
//! `Bytes` per item (a shared buffer, its reference-counted header and a
//! boxed slice of handles: three allocations and two atomic operations per
//! item), an entry costs one allocation and no reference counts; replies
//! copy the items out, into one buffer per reply (`cmd::stream::entry_frames`).

use std::fmt;

/// Bytes of an item's length prefix.
const LEN_BYTES: usize = 4;

#[derive(Clone, PartialEq, Eq)]
pub struct Fields(Box<[u8]>);

impl Fields {
    /// Packs copies of `items` (a stream entry never keeps a slice of the
    /// batch it came in).
    pub fn pack<'a, I>(items: I) -> Fields
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        let total: usize = items.clone().map(|item| LEN_BYTES + item.len()).sum();
        let mut packed = Vec::with_capacity(total);
        for item in items {
            let len = u32::try_from(item.len()).expect("an argument is shorter than 4 GiB");
            packed.extend_from_slice(&len.to_le_bytes());
            packed.extend_from_slice(item);
        }
        assert_eq!(packed.len(), total, "packed exactly the measured bytes");
        Fields(packed.into_boxed_slice())
    }

    pub fn iter(&self) -> FieldIter<'_> {
        FieldIter { rest: &self.0 }
    }

    /// Items (fields and values).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The items' own bytes, without their length prefixes.
    pub fn text_len(&self) -> usize {
        self.iter().map(<[u8]>::len).sum()
    }

    /// Heap bytes held, as allocated.
    pub fn heap_bytes(&self) -> usize {
        crate::memory_usage::alloc_size(self.0.len())
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

pub struct FieldIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<LEN_BYTES>()?;
        let (item, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        self.rest = rest;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_in_order() {
        let items: [&[u8]; 4] = [b"field", b"", b"value with spaces", &[0, 1, 2, 255]];
        let fields = Fields::pack(items.iter().copied());
        assert_eq!(fields.iter().collect::<Vec<_>>(), items);
        assert_eq!(fields.len(), 4);
        assert_eq!(fields.text_len(), 5 + 17 + 4);
        assert_eq!(fields.heap_bytes(), crate::memory_usage::alloc_size(4 * LEN_BYTES + 26));
        assert!(Fields::pack(std::iter::empty()).is_empty());
    }
}
