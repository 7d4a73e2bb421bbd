//! Header maps recycled per thread. The lean HTTP/1.1 paths build a map for every request and
//! every answer, and are done with one request map and one response map per exchange; a
//! thread keeps a few of those, cleared, to build the next ones in, instead of allocating a
//! map's two buffers each time.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps kept per thread.
const KEPT: usize = 32;
/// A map that grew beyond this many fields is not kept: a rare large head does not pin its
/// memory.
const MAX_CAPACITY: usize = 64;

thread_local! {
    static MAPS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for at least `capacity` fields: one this thread recycled, if any.
pub fn take(capacity: usize) -> HeaderMap {
    let kept = MAPS.with(|maps| maps.try_borrow_mut().ok().and_then(|mut maps| maps.pop()));
    match kept {
        Some(mut map) => {
            map.reserve(capacity);
            map
        }
        None => HeaderMap::with_capacity(capacity),
    }
}

/// Gives `map` back, to be cleared and built in again on this thread.
pub fn recycle(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_CAPACITY {
        return;
    }
    map.clear();
    MAPS.with(|maps| {
        if let Ok(mut maps) = maps.try_borrow_mut() {
            if maps.len() < KEPT {
                maps.push(map);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_recycled_map_comes_back_empty_and_keeps_its_room() {
        let mut map = take(8);
        map.insert("x-a", http::HeaderValue::from_static("1"));
        map.append("x-a", http::HeaderValue::from_static("2"));
        let room = map.capacity();
        recycle(map);
        let map = take(4);
        assert!(map.is_empty() && map.get("x-a").is_none());
        assert_eq!(map.capacity(), room, "the recycled map, not a new one");
        // Too large to keep: the next map is a new one.
        recycle(HeaderMap::with_capacity(MAX_CAPACITY * 2));
        assert!(take(1).capacity() < MAX_CAPACITY * 2);
    }

    #[test]
    fn at_most_kept_maps_are_held() {
        for _ in 0..KEPT * 2 {
            recycle(HeaderMap::with_capacity(4));
        }
        assert_eq!(MAPS.with(|m| m.borrow().len()), KEPT);
    }
}
