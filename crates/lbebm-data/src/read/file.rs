//! Whole-file reading: every row of a file (or of bytes in memory) at once.

use super::reader::RowReader;
use super::types::{Format, TrackFile};
use crate::{DataError, Result};
use std::path::Path;

/// Reads a whole track file. `Format::Auto` looks at the first non-empty line: if its
/// first field is not a number, it is a CSV header.
pub fn read_track_file(path: &Path, format: Format) -> Result<TrackFile> {
    collect(RowReader::open(path, format)?)
}

/// As [`read_track_file`], on bytes already in memory; `path` only names them in errors.
pub fn read_track_bytes(path: &Path, bytes: &[u8], format: Format) -> Result<TrackFile> {
    collect(RowReader::from_reader(path, bytes, format)?)
}

/// Every row of `r`; an error if there is none.
fn collect(mut r: RowReader<'_>) -> Result<TrackFile> {
    let mut rows = Vec::new();
    while let Some(row) = r.next_row()? {
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            file: r.path().to_path_buf(),
        });
    }
    Ok(TrackFile {
        rows,
        time: r.time(),
    })
}

// End-to-end tests of the readers (format detection, Social-GAN text, CSV, line
// numbers), through the entry points above.
#[cfg(test)]
mod tests {
    use super::super::line_ends::tests::Trickle;
    use super::super::types::TimeKind;
    use super::*;

    fn read(s: &str, f: Format) -> Result<TrackFile> {
        read_track_bytes(Path::new("mem.txt"), s.as_bytes(), f)
    }

    #[test]
    fn streaming_and_blank_lines_keep_editor_line_numbers() {
        // Streaming in single bytes gives the rows and line numbers of a whole read.
        let text = b"0\t1\t1\t2\r10\t1\t2\t2\r\n\r\n20\t1\t3\t2";
        let whole = read_track_bytes(Path::new("m"), text, Format::Auto).unwrap();
        let mut r = RowReader::from_reader(Path::new("m"), Trickle(text), Format::Auto).unwrap();
        let mut rows = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            rows.push(row);
        }
        assert_eq!(rows, whole.rows);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 4]);
        // Blank lines before, between and after rows, in both formats: errors name the
        // line an editor shows.
        for (text, line) in [
            (&b"\n\n0\t1\t1\t2\n\n\n5\t1\t1\tx\n"[..], 6),
            (b"\r\n \r\nt,id,x,y\r\n0,1,1,2\r\n\r\n\r\n0.4,1,x,2\r\n", 7),
            (b"t,id,x,y\n0,1,1,2\n\n\n0.4,1,1,2,5\n", 5),
            (b"\n\nt,id,y\n", 3),
        ] {
            let e = read_track_bytes(Path::new("m"), text, Format::Auto)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("m:{line}:")), "{e}");
        }
    }

    #[test]
    fn sgan_tabs_and_spaces() {
        let a = read("0\t1.0\t1.5\t2.5\n10\t1.0\t1.6\t2.6\n", Format::Auto).unwrap();
        let b = read("0  1   1.5 2.5\n10 1 1.6 2.6\n\n", Format::Sgan).unwrap();
        assert_eq!(a.rows.len(), 2);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.rows[1].id, "1");
        assert_eq!(a.rows[1].line, 2);
        assert_eq!(a.time, TimeKind::Frame);
    }

    #[test]
    fn sgan_errors_name_line_and_cause() {
        let e = read("0\t1\t1\t1\n10\t1\tabc\t2\n", Format::Sgan).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("mem.txt:2") && m.contains("not a number"), "{m}");
        let m = read("0\t1\t1\n", Format::Sgan).unwrap_err().to_string();
        assert!(m.contains(":1") && m.contains("too few fields"), "{m}");
        let m = read("0\t1\tNaN\t1\n", Format::Sgan)
            .unwrap_err()
            .to_string();
        assert!(m.contains("not finite"), "{m}");
        let m = read("0\t1\tinf\t1\n", Format::Sgan)
            .unwrap_err()
            .to_string();
        assert!(m.contains("not finite"), "{m}");
        let m = read("0\t1\t1e300\t1\n", Format::Sgan)
            .unwrap_err()
            .to_string();
        assert!(m.contains("out of range"), "{m}");
        assert!(matches!(
            read("", Format::Auto),
            Err(DataError::Empty { .. })
        ));
        assert!(matches!(
            read("\n  \n", Format::Sgan),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn csv_with_header() {
        let f = read("t,id,x,y,extra\n0.0,a,1,2,z\n0.4,a,1.5,2,z\n", Format::Auto).unwrap();
        assert_eq!(f.time, TimeKind::Seconds);
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[1].id, "a");
        assert_eq!(f.rows[1].line, 3);
        let f = read("frame,ID,X,Y\n3,1,0,0\n", Format::Csv).unwrap();
        assert_eq!(f.time, TimeKind::Frame);
    }

    #[test]
    fn csv_errors() {
        let m = read("t,id,x\n0,1,2\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains("missing column `y`") && m.contains(":1"), "{m}");
        let m = read("time,id,x,y\n0,1,2,3\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains("missing time column"), "{m}");
        let m = read("t,id,x,y\n0,1,2,3\n0.4,1,2\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains(":3") && m.contains("expected 4 fields"), "{m}");
        let m = read("t,id,x,y\n0,1,2,-inf\n", Format::Csv)
            .unwrap_err()
            .to_string();
        assert!(m.contains(":2") && m.contains("not finite"), "{m}");
        assert!(matches!(
            read("t,id,x,y\n", Format::Csv),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let bytes = b"0\t1\t\xff\xfe\t2\n";
        let e = read_track_bytes(Path::new("bin"), bytes, Format::Sgan).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }
}
