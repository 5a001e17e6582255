//! One small sort for the few places that sort: the standard library's sorts are fast but
//! large (each `sort`/`sort_unstable` instantiation is 2-4 KB of wasm), and what is sorted
//! here is short (percentiles of one stats page, a handful of instants, query parameters, one
//! page of log entries). A heapsort: O(n log n) worst case, no allocation, not stable; every
//! caller sorts by a total order, so the result is the one a stable sort would give.

/// Sorts `v` so that `!less(&v[i + 1], &v[i])` for every `i`.
pub fn sort_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, start, n, &less);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end, &less);
    }
}

/// Sorts `v` ascending.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, |a, b| a < b);
}

fn sift_down<T>(v: &mut [T], mut node: usize, end: usize, less: &impl Fn(&T, &T) -> bool) {
    loop {
        let mut child = 2 * node + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && less(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !less(&v[node], &v[child]) {
            return;
        }
        v.swap(node, child);
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_like_the_standard_library(mut v in proptest::collection::vec(any::<i16>(), 0..200)) {
            let mut expected = v.clone();
            expected.sort();
            sort(&mut v);
            prop_assert_eq!(v, expected);
        }

        #[test]
        fn sorts_by_a_key_descending(mut v in proptest::collection::vec((any::<u8>(), any::<u16>()), 0..200)) {
            let mut expected = v.clone();
            expected.sort_by(|a, b| b.cmp(a));
            sort_by(&mut v, |a, b| a > b);
            prop_assert_eq!(v, expected);
        }
    }
}
