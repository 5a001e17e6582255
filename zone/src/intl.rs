//! `POLLING_TIMEZONE` rules from the runtime: `Intl.DateTimeFormat` (ICU, current IANA data)
//! behind `chrono::TimeZone`, so the pure gating and detection code runs unchanged in the
//! worker without carrying the zone database in the bundle.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use js_sys::{Array, Date, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

const DAY_MS: i64 = 86_400_000;

thread_local! {
    // One formatter per zone and isolate: building one costs far more than using it.
    static FORMATTERS: RefCell<HashMap<&'static str, Object>> = RefCell::new(HashMap::new());
}

/// An IANA time zone evaluated by the runtime. `Copy`, like `chrono_tz::Tz`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntlZone {
    name: &'static str,
}

/// The offset of an [`IntlZone`] at some instant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IntlOffset {
    zone: IntlZone,
    fixed: FixedOffset,
}

fn new_formatter(name: &str) -> Option<Object> {
    let intl = Reflect::get(&js_sys::global(), &JsValue::from_str("Intl")).ok()?;
    let ctor: Function = Reflect::get(&intl, &JsValue::from_str("DateTimeFormat"))
        .ok()?
        .dyn_into()
        .ok()?;
    let options = Object::new();
    let set = |k: &str, v: &str| {
        Reflect::set(&options, &JsValue::from_str(k), &JsValue::from_str(v)).ok()
    };
    set("timeZone", name)?;
    set("hourCycle", "h23")?;
    for field in ["year", "month", "day", "hour", "minute", "second"] {
        set(field, "numeric")?;
    }
    let args = Array::of2(&JsValue::from_str("en-US"), &options);
    // An unknown zone makes the constructor throw a RangeError: caught here.
    Reflect::construct(&ctor, &args).ok()?.dyn_into().ok()
}

fn with_formatter<T>(zone: IntlZone, f: impl FnOnce(&Object) -> Option<T>) -> Option<T> {
    FORMATTERS.with(|cache| {
        if let Some(fmt) = cache.borrow().get(zone.name) {
            return f(fmt);
        }
        let fmt = new_formatter(zone.name)?;
        let out = f(&fmt);
        cache.borrow_mut().insert(zone.name, fmt);
        out
    })
}

/// Seconds east of UTC in force at `utc_ms`, read from the wall clock `Intl` shows.
fn offset_at(zone: IntlZone, utc_ms: i64) -> i32 {
    let whole_second = utc_ms.div_euclid(1000) * 1000;
    with_formatter(zone, |fmt| {
        let format_to_parts: Function = Reflect::get(fmt, &JsValue::from_str("formatToParts"))
            .ok()?
            .dyn_into()
            .ok()?;
        let parts: Array = format_to_parts
            .call1(fmt, &Date::new(&JsValue::from_f64(whole_second as f64)))
            .ok()?
            .dyn_into()
            .ok()?;
        let mut v = [0i64; 6];
        for part in parts.iter() {
            let kind = Reflect::get(&part, &JsValue::from_str("type"))
                .ok()?
                .as_string()?;
            // Literal parts ("/", ", ", ":") sit between the numbers.
            let Some(i) = ["year", "month", "day", "hour", "minute", "second"]
                .iter()
                .position(|k| *k == kind)
            else {
                continue;
            };
            v[i] = Reflect::get(&part, &JsValue::from_str("value"))
                .ok()?
                .as_string()?
                .parse()
                .ok()?;
        }
        let local = NaiveDate::from_ymd_opt(v[0] as i32, v[1] as u32, v[2] as u32)?
            .and_hms_opt((v[3] % 24) as u32, v[4] as u32, v[5] as u32)?
            .and_utc()
            .timestamp_millis();
        i32::try_from((local - whole_second) / 1000).ok()
    })
    .unwrap_or(0)
}

impl IntlZone {
    fn fixed_at(self, utc_ms: i64) -> IntlOffset {
        let secs = offset_at(self, utc_ms);
        IntlOffset {
            zone: self,
            fixed: FixedOffset::east_opt(secs)
                .unwrap_or(FixedOffset::east_opt(0).expect("zero offset")),
        }
    }
}

impl FromStr for IntlZone {
    type Err = String;

    /// Accepts a zone name the runtime knows (interned, so the value is `Copy`).
    fn from_str(name: &str) -> Result<Self, String> {
        thread_local! {
            static NAMES: RefCell<HashMap<String, &'static str>> = RefCell::new(HashMap::new());
        }
        let interned = NAMES.with(|names| {
            if let Some(n) = names.borrow().get(name) {
                return Some(*n);
            }
            new_formatter(name)?;
            let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
            names.borrow_mut().insert(name.to_string(), leaked);
            Some(leaked)
        });
        interned
            .map(|name| IntlZone { name })
            .ok_or_else(|| format!("unknown time zone {name:?}"))
    }
}

impl fmt::Debug for IntlZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Display for IntlZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Debug for IntlOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.fixed)
    }
}

impl fmt::Display for IntlOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fixed)
    }
}

impl Offset for IntlOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl TimeZone for IntlZone {
    type Offset = IntlOffset;

    fn from_offset(offset: &IntlOffset) -> Self {
        offset.zone
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<IntlOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    /// The offsets under which the wall clock shows `local`: none in a spring-forward gap, two
    /// in a fall-back overlap (earliest instant first). Candidates are the offsets in force a
    /// day either side, which covers every real-world transition.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<IntlOffset> {
        let as_utc = local.and_utc().timestamp_millis();
        // Distinct offsets, without a sort (each sort instantiation costs kilobytes of wasm).
        let mut candidates: Vec<i32> = Vec::with_capacity(3);
        for t in [as_utc - DAY_MS, as_utc, as_utc + DAY_MS] {
            let o = offset_at(*self, t);
            if !candidates.contains(&o) {
                candidates.push(o);
            }
        }
        let valid: Vec<(i64, IntlOffset)> = candidates
            .into_iter()
            .filter(|o| offset_at(*self, as_utc - i64::from(*o) * 1000) == *o)
            .map(|o| {
                let instant = as_utc - i64::from(o) * 1000;
                (
                    instant,
                    IntlOffset {
                        zone: *self,
                        fixed: FixedOffset::east_opt(o)
                            .unwrap_or(FixedOffset::east_opt(0).expect("zero offset")),
                    },
                )
            })
            .collect();
        // Distinct offsets give distinct instants: the earliest and the latest, not a sort.
        let earliest = valid.iter().min_by_key(|(t, _)| *t);
        let latest = valid.iter().max_by_key(|(t, _)| *t);
        match (valid.len(), earliest, latest) {
            (0, _, _) | (_, None, _) | (_, _, None) => LocalResult::None,
            (1, Some((_, one)), _) => LocalResult::Single(*one),
            (_, Some((_, first)), Some((_, last))) => LocalResult::Ambiguous(*first, *last),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> IntlOffset {
        self.fixed_at(
            utc.and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis(),
        )
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> IntlOffset {
        self.fixed_at(utc.and_utc().timestamp_millis())
    }
}
