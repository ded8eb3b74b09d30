//! Which key a request hits: uniform, or Zipf-distributed so a few keys are
//! hot (likes on a viral post, one SKU in a flash sale).

use crate::BenchError;
use rand::Rng;

/// The Zipf table holds one f64 per key; beyond this it would cost more
/// memory than a load generator should.
pub const MAX_ZIPF_KEYS: u64 = 10_000_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    Uniform,
    Zipf(f64),
}

impl std::str::FromStr for Dist {
    type Err = String;

    fn from_str(s: &str) -> Result<Dist, String> {
        if s == "uniform" {
            return Ok(Dist::Uniform);
        }
        let exponent = s.strip_prefix("zipf:").and_then(|e| e.parse::<f64>().ok());
        match exponent {
            Some(e) if e > 0.0 && e.is_finite() => Ok(Dist::Zipf(e)),
            _ => Err(format!("expected uniform or zipf:<exponent>, got {s:?}")),
        }
    }
}

/// Draws key indexes in `0..keys`.
pub enum KeyPicker {
    Uniform(u64),
    /// Cumulative probabilities of ranks 1..=keys.
    Zipf(std::sync::Arc<Vec<f64>>),
}

impl KeyPicker {
    pub fn new(dist: &Dist, keys: u64) -> Result<KeyPicker, BenchError> {
        if keys == 0 {
            return Err(BenchError::Usage("--keys must be at least 1".into()));
        }
        match dist {
            Dist::Uniform => Ok(KeyPicker::Uniform(keys)),
            Dist::Zipf(s) => {
                if keys > MAX_ZIPF_KEYS {
                    return Err(BenchError::Usage(format!("zipf supports at most {MAX_ZIPF_KEYS} keys")));
                }
                let mut cdf = Vec::with_capacity(keys as usize);
                let mut total = 0.0;
                for rank in 1..=keys {
                    total += 1.0 / (rank as f64).powf(*s);
                    cdf.push(total);
                }
                for p in &mut cdf {
                    *p /= total;
                }
                Ok(KeyPicker::Zipf(std::sync::Arc::new(cdf)))
            }
        }
    }

    pub fn pick(&self, rng: &mut impl Rng) -> u64 {
        match self {
            KeyPicker::Uniform(keys) => rng.gen_range(0..*keys),
            KeyPicker::Zipf(cdf) => {
                let u: f64 = rng.gen();
                cdf.partition_point(|p| *p < u).min(cdf.len() - 1) as u64
            }
        }
    }

    pub fn share(&self) -> KeyPicker {
        match self {
            KeyPicker::Uniform(k) => KeyPicker::Uniform(*k),
            KeyPicker::Zipf(cdf) => KeyPicker::Zipf(cdf.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipf_prefers_low_ranks_in_the_right_proportion() {
        let picker = KeyPicker::new(&Dist::Zipf(1.0), 1000).expect("picker");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..200_000 {
            counts[picker.pick(&mut rng) as usize] += 1;
        }
        // With s = 1, rank 1 is drawn twice as often as rank 2.
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((1.8..2.2).contains(&ratio), "rank1/rank2 = {ratio}");
        assert!(counts[0] > counts[999] * 100);
    }

    #[test]
    fn uniform_covers_the_range() {
        let picker = KeyPicker::new(&Dist::Uniform, 10).expect("picker");
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[picker.pick(&mut rng) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert!("zipf:0.99".parse::<Dist>().is_ok() && "zipf:x".parse::<Dist>().is_err());
    }
}
