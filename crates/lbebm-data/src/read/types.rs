//! What reading produces: rows, what their time counts, the input formats, whole files.

/// One observation of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Frame number (Social-GAN files, CSV `frame`) or seconds (CSV `t`).
    pub t: f64,
    /// Agent id as text; a numeric id with no fractional part is written as an integer
    /// (`1.0` becomes `1`).
    pub id: String,
    /// x position, in the file's units (metres for the ETH/UCY files).
    pub x: f64,
    /// y position, in the file's units (metres for the ETH/UCY files).
    pub y: f64,
    /// 1-based line in the source file, for error messages further down the pipeline.
    pub line: u64,
}

/// What the time column counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    /// Frame numbers (Social-GAN files, CSV `frame` column); seconds per frame are
    /// given or inferred elsewhere.
    Frame,
    /// Seconds (CSV `t` column).
    Seconds,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Decide from the first non-empty line: a header naming columns means CSV.
    Auto,
    /// Social-GAN text: `frame id x y`, tab or space separated, no header.
    Sgan,
    /// CSV with a header naming `frame` or `t`, `id`, `x`, `y` (other columns ignored).
    Csv,
}

/// The rows of one file, in file order.
#[derive(Debug, Clone)]
pub struct TrackFile {
    /// Every observation, in file order (never empty).
    pub rows: Vec<Row>,
    /// What the rows' `t` counts.
    pub time: TimeKind,
}
