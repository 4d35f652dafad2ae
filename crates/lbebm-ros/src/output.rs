//! Forecasts → `lbebm_msgs/PredictionArray` and `visualization_msgs/MarkerArray`.

use crate::msgs::{
    AgentPrediction, ColorRgba, Duration, Header, Marker, MarkerArray, Point, PredictionArray,
    Time, TrajectorySample, Vector3,
};
use crate::tracks::{Role, SceneJob};
use lbebm_types::{AgentForecast, SceneForecast, DT};

/// Marker namespaces.
pub const NS_SAMPLES: &str = "lbebm/samples";
/// Marker namespace of the spheres at the people.
pub const NS_PEOPLE: &str = "lbebm/people";

/// Options of the marker output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkerStyle {
    /// Seconds (0: forever).
    pub lifetime: f64,
    /// Line width of the most plausible sample (others are thinner).
    pub width: f64,
}

impl Default for MarkerStyle {
    fn default() -> Self {
        MarkerStyle {
            lifetime: 1.0,
            width: 0.06,
        }
    }
}

/// Colour of the sample of rank `rank` among `k`: red (most plausible) to blue,
/// fading.
pub fn rank_color(rank: usize, k: usize) -> ColorRgba {
    let f = if k <= 1 {
        0.0
    } else {
        rank as f32 / (k - 1) as f32
    };
    ColorRgba {
        r: 1.0 - 0.8 * f,
        g: 0.25 + 0.35 * f,
        b: 0.2 + 0.8 * f,
        a: 1.0 - 0.65 * f,
    }
}

fn finite_sample(s: &lbebm_types::Future) -> bool {
    s.iter().all(|p| p.x.is_finite() && p.y.is_finite())
}

/// One agent's samples from the most to the least likely, without non-finite ones,
/// with their energies and weights.
fn ranked(f: &AgentForecast) -> Vec<(usize, f32, f32)> {
    let w = f.weights();
    f.ranked()
        .into_iter()
        .filter(|&i| {
            i < f.samples.len()
                && f.energies.get(i).is_some_and(|e| e.is_finite())
                && finite_sample(&f.samples[i])
        })
        .map(|i| (i, f.energies[i], w.get(i).copied().unwrap_or(0.0)))
        .collect()
}

/// Builds both messages for a scene and its forecast (in scene order). Agents whose
/// samples are all non-finite are left out; the count comes back for a warning.
pub fn build(
    job: &SceneJob,
    forecast: Option<&SceneForecast>,
    style: &MarkerStyle,
) -> (PredictionArray, MarkerArray, usize) {
    let header = Header {
        stamp: Time::from_secs(job.stamp),
        frame_id: job.frame.clone(),
    };
    let mut preds = PredictionArray {
        header: header.clone(),
        agents: Vec::with_capacity(job.agents.len()),
    };
    // DELETEALL first: people who left vanish at once, the rest is redrawn below
    let mut markers = MarkerArray {
        markers: vec![Marker {
            header: header.clone(),
            action: Marker::DELETEALL,
            ..Default::default()
        }],
    };
    let mut skipped = 0;
    let origin = job.origin;
    let world = |p: &lbebm_types::Vec2| Point {
        x: p.x as f64 + origin[0],
        y: p.y as f64 + origin[1],
        z: 0.0,
    };
    let lifetime = Duration::from_secs(style.lifetime);
    let mut id = 0i32;
    let agents = forecast.map(|f| f.agents.as_slice()).unwrap_or(&[]);
    for (meta, f) in job.agents.iter().zip(agents) {
        if meta.role == Role::Robot {
            // the robot was a neighbour for the model; its future is the planner's
            continue;
        }
        let order = ranked(f);
        if order.is_empty() {
            skipped += 1;
            continue;
        }
        let here = Point {
            x: meta.position[0],
            y: meta.position[1],
            z: 0.0,
        };
        let k = order.len();
        let mut samples = Vec::with_capacity(k);
        for (rank, &(i, energy, weight)) in order.iter().enumerate() {
            let pts: Vec<Point> = f.samples[i].iter().map(world).collect();
            let mut line = Vec::with_capacity(pts.len() + 1);
            line.push(here);
            line.extend_from_slice(&pts);
            markers.markers.push(Marker {
                header: header.clone(),
                ns: NS_SAMPLES.into(),
                id,
                type_: Marker::LINE_STRIP,
                action: Marker::ADD,
                scale: Vector3 {
                    x: if rank == 0 {
                        style.width
                    } else {
                        style.width * 0.5
                    },
                    ..Default::default()
                },
                color: rank_color(rank, k),
                lifetime,
                points: line,
                ..Default::default()
            });
            id = id.wrapping_add(1);
            samples.push(TrajectorySample {
                positions: pts,
                energy,
                weight,
            });
        }
        markers.markers.push(Marker {
            header: header.clone(),
            ns: NS_PEOPLE.into(),
            id,
            type_: Marker::SPHERE,
            action: Marker::ADD,
            pose: crate::msgs::Pose {
                position: here,
                ..Default::default()
            },
            scale: Vector3 {
                x: 0.3,
                y: 0.3,
                z: 0.3,
            },
            color: ColorRgba {
                r: 0.9,
                g: 0.9,
                b: 0.2,
                a: 0.9,
            },
            lifetime,
            text: meta.id.clone(),
            ..Default::default()
        });
        id = id.wrapping_add(1);
        preds.agents.push(AgentPrediction {
            id: meta.id.clone(),
            stamp: Time::from_secs(meta.stamp),
            position: here,
            time_step: DT,
            observed_steps: meta.observed as u32,
            samples,
        });
    }
    (preds, markers, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::AgentMeta;
    use lbebm_types::{Scene, Vec2, PRED_LEN};

    fn job(n: usize) -> SceneJob {
        SceneJob {
            scene: Scene {
                source: "t".into(),
                t: 5.0,
                agents: vec![],
            },
            origin: [100.0, 200.0],
            stamp: 5.25,
            frame: "map".into(),
            agents: (0..n)
                .map(|i| AgentMeta {
                    id: format!("p{i}"),
                    role: crate::tracks::Role::Person,
                    stamp: 5.25,
                    position: [100.0 + i as f64, 200.0],
                    observed: 8,
                })
                .collect(),
        }
    }

    fn forecast(n: usize, energies: &[f32]) -> SceneForecast {
        SceneForecast {
            agents: (0..n)
                .map(|i| {
                    AgentForecast::from_energies(
                        energies
                            .iter()
                            .enumerate()
                            .map(|(j, _)| {
                                std::array::from_fn(|s| {
                                    Vec2::new(i as f32 + 0.1 * (s + 1) as f32, j as f32)
                                })
                            })
                            .collect(),
                        energies.to_vec(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn publication_order_follows_the_weights_not_the_energies() {
        let mut f = forecast(1, &[3.0, 1.0, 2.0]);
        // A ranking that disagrees with the energies: sample 0 is the most likely.
        f.agents[0].weights = vec![0.7, 0.1, 0.2];
        let (p, m, _) = build(&job(1), Some(&f), &MarkerStyle::default());
        let a = &p.agents[0];
        let w: Vec<f32> = a.samples.iter().map(|s| s.weight).collect();
        assert_eq!(w, vec![0.7, 0.2, 0.1]);
        let e: Vec<f32> = a.samples.iter().map(|s| s.energy).collect();
        assert_eq!(e, vec![3.0, 2.0, 1.0]);
        // Sample 0 lies at y = 0 (+ origin 200): first in the message and the first marker.
        assert!((a.samples[0].positions[0].y - 200.0).abs() < 1e-6);
        let first_line = m
            .markers
            .iter()
            .find(|k| k.type_ == Marker::LINE_STRIP)
            .unwrap();
        assert!((first_line.points[1].y - 200.0).abs() < 1e-6);
    }

    #[test]
    fn predictions_are_ranked_weighted_and_in_world_coordinates() {
        let (p, m, skipped) = build(
            &job(2),
            Some(&forecast(2, &[3.0, 1.0, 2.0])),
            &MarkerStyle::default(),
        );
        assert_eq!(skipped, 0);
        assert_eq!(p.header.frame_id, "map");
        assert_eq!(
            p.header.stamp,
            Time {
                sec: 5,
                nanosec: 250_000_000
            }
        );
        assert_eq!(p.agents.len(), 2);
        let a = &p.agents[1];
        assert_eq!(a.id, "p1");
        assert_eq!(a.time_step, 0.4);
        assert_eq!(a.observed_steps, 8);
        let e: Vec<f32> = a.samples.iter().map(|s| s.energy).collect();
        assert_eq!(e, vec![1.0, 2.0, 3.0]);
        let wsum: f32 = a.samples.iter().map(|s| s.weight).sum();
        assert!((wsum - 1.0).abs() < 1e-5);
        assert!(a.samples[0].weight > a.samples[1].weight);
        // lowest energy was sample 1: y = 1 (+ origin 200)
        let s0 = &a.samples[0].positions;
        assert_eq!(s0.len(), PRED_LEN);
        assert!((s0[0].y - 201.0).abs() < 1e-6);
        assert!((s0[0].x - 101.1).abs() < 1e-5);
        // markers: DELETEALL, then per agent 3 line strips and a sphere
        assert_eq!(m.markers.len(), 1 + 2 * 4);
        assert_eq!(m.markers[0].action, Marker::DELETEALL);
        let lines: Vec<&Marker> = m
            .markers
            .iter()
            .filter(|k| k.type_ == Marker::LINE_STRIP)
            .collect();
        assert_eq!(lines.len(), 6);
        for l in &lines {
            assert_eq!(l.points.len(), PRED_LEN + 1, "starts at the person");
            assert_eq!(l.header.frame_id, "map");
            assert_eq!(l.lifetime, Duration { sec: 1, nanosec: 0 });
            assert!(l.scale.x > 0.0);
        }
        // rank colours: first opaque red-ish, later more transparent
        assert!(lines[0].color.a > lines[2].color.a);
        assert!(lines[0].color.r > lines[2].color.r);
        // ids unique within the namespace
        let mut ids: Vec<i32> = m.markers[1..].iter().map(|k| k.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), m.markers.len() - 1);
    }

    #[test]
    fn empty_scene_clears_the_markers() {
        let (p, m, _) = build(&job(0), None, &MarkerStyle::default());
        assert!(p.agents.is_empty());
        assert_eq!(m.markers.len(), 1);
        assert_eq!(m.markers[0].action, Marker::DELETEALL);
    }

    #[test]
    fn non_finite_samples_are_dropped() {
        let mut f = forecast(2, &[1.0, 2.0]);
        f.agents[0].samples[0][3] = Vec2::new(f32::NAN, 0.0);
        f.agents[1].energies = vec![f32::NAN, f32::NAN];
        let (p, _, skipped) = build(&job(2), Some(&f), &MarkerStyle::default());
        assert_eq!(skipped, 1);
        assert_eq!(p.agents.len(), 1);
        assert_eq!(p.agents[0].samples.len(), 1);
    }

    #[test]
    fn marker_fields_are_in_the_jazzy_order() {
        // CDR is positional: the serialisation order must be the .msg order. serde_json
        // writes struct fields in serialisation order.
        let json = serde_json::to_string(&Marker::default()).expect("serializes");
        let order = [
            "header",
            "ns",
            "id",
            "type_",
            "action",
            "pose",
            "scale",
            "color",
            "lifetime",
            "frame_locked",
            "points",
            "colors",
            "texture_resource",
            "texture",
            "uv_coordinates",
            "text",
            "mesh_resource",
            "mesh_file",
            "mesh_use_embedded_materials",
        ];
        let pos: Vec<usize> = order
            .iter()
            .map(|k| json.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{json}");
    }
}
