//! `layout.json`: what a kernel (or the kernel side) needs to know about the
//! images without parsing them: every export's offset and size, each image's
//! size, build id and variant, and the data-page offsets.

use std::path::Path;

use anyhow::Result;
use common::abi::{Abi, Arch};
use common::entries::EntryKind;
use common::vvar::{CS_HRES_COARSE, CS_RAW, PAGE_SIZE};
use serde_json::{Value, json};

use crate::arch::Tools;
use crate::build_vdso::{self, Built, Counter};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn to_json(images: &[Built], arch: Arch, abi: Abi, counter: Counter) -> Value {
    let images: Vec<Value> = images
        .iter()
        .map(|b| {
            let symbols: Vec<Value> = b
                .facts
                .exports
                .values()
                .map(|x| {
                    json!({
                        "name": x.name,
                        "offset": x.offset,
                        "size": x.size,
                        "binding": if x.weak { "weak" } else { "global" },
                        "version": x.version,
                    })
                })
                .collect();
            json!({
                "file": b.spec.file(),
                "variant": b.spec.variant.name(),
                "size": b.facts.file_size,
                "text_size": b.facts.text_size,
                "build_id": hex(b.facts.build_id.as_deref().unwrap_or_default()),
                "symbols": symbols,
            })
        })
        .collect();
    // A trampoline's offset is its symbol's, which a kernel adds to the
    // base for a signal's return address; its slot starts `lead` earlier.
    let slots: Vec<Value> = build_vdso::entries(arch, abi)
        .iter()
        .map(|e| {
            let mut slot = json!({ "symbol": e.symbol, "alias": e.alias, "offset": e.offset(), "size": e.symbol_room() });
            if e.kind == EntryKind::Trampoline {
                slot["kind"] = "trampoline".into();
                slot["lead"] = e.lead.into();
            }
            slot
        })
        .collect();
    let l = build_vdso::layout(arch, abi);
    let slot = |s: Option<usize>| s.map(|s| l.offset(s));
    let ((first_major, first_minor), last) = abi.kernels();
    json!({
        "abi": abi.name(),
        "arch": arch.name(),
        "kernels": {
            "first": format!("{first_major}.{first_minor}"),
            "last": last.map(|(major, minor)| format!("{major}.{minor}")),
        },
        "images": images,
        "counter": Tools::of(arch).counter_name().unwrap_or(counter.name()),
        "slots": slots,
        // Offsets from the image's base; a host process reads its time from
        // "time" (Linux's vvar page up to 6.14), a namespaced one as
        // "namespace_page_in_time_slot" says (docs/abi.md).
        "data_pages": {
            "page_size": PAGE_SIZE,
            "count": l.data_pages,
            "time": l.offset(l.time_slot),
            "namespace": l.offset(l.namespace_slot),
            "rng": l.rng.map(|(s, at)| json!({ "page": l.offset(s), "offset": at })),
            "pvclock": slot(l.pvclock_slot),
            "hvclock": slot(l.hvclock_slot),
            "namespace_page_in_time_slot": l.namespace_page_in_time_slot,
            "clocks_at": l.clocks_at,
            "clock_size": l.clock_size,
            "cs_hres_coarse": CS_HRES_COARSE,
            "cs_raw": CS_RAW,
            "aux_clocks": l.aux_clocks,
            "tz_minuteswest": l.tz_at,
            "hrtimer_res": l.hrtimer_res_at,
        },
    })
}

/// Writes `layout.json` through a rename, like the images it describes.
pub fn write(dir: &Path, images: &[Built], arch: Arch, abi: Abi, counter: Counter) -> Result<()> {
    let text = serde_json::to_string_pretty(&to_json(images, arch, abi, counter))? + "\n";
    build_vdso::publish(dir, "layout.json", text.as_bytes())?;
    Ok(())
}
