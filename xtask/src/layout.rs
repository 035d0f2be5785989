//! `layout.json`: what a kernel (or the kernel side) needs to know about the
//! images without parsing them: every export's offset and size, each image's
//! size, build id and variant, and the data-page offsets.

use std::path::Path;

use anyhow::Result;
use common::vvar;
use serde_json::{Value, json};

use crate::build_vdso::{Built, Counter};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn to_json(images: &[Built], counter: Counter) -> Value {
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
    let slots: Vec<Value> = crate::build_vdso::entries(crate::build_vdso::ABI)
        .iter()
        .map(|e| json!({ "symbol": e.symbol, "alias": e.alias, "offset": e.slot.offset, "size": e.slot.size }))
        .collect();
    json!({
        "images": images,
        "counter": counter.name(),
        "slots": slots,
        "data_pages": {
            "page_size": vvar::PAGE_SIZE,
            "vvar": vvar::VVAR_PAGE_OFFSET,
            "pvclock": vvar::PVCLOCK_PAGE_OFFSET,
            "hvclock": vvar::HVCLOCK_PAGE_OFFSET,
            "timens": vvar::TIMENS_PAGE_OFFSET,
            "vdso_data_offset": vvar::VDSO_DATA_OFFSET,
            "vdso_data_size": vvar::VDSO_DATA_SIZE,
            "cs_hres_coarse": vvar::CS_HRES_COARSE,
            "cs_raw": vvar::CS_RAW,
        },
    })
}

/// Writes `layout.json` through a rename, like the images it describes.
pub fn write(dir: &Path, images: &[Built], counter: Counter) -> Result<()> {
    let text = serde_json::to_string_pretty(&to_json(images, counter))? + "\n";
    crate::build_vdso::publish(dir, "layout.json", text.as_bytes())?;
    Ok(())
}
