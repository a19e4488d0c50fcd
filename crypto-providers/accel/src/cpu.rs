//! CPU feature detection: which crypto instructions this machine offers.
//!
//! aws-lc-rs (AWS-LC) does its own run-time dispatch; this module only reports what is there,
//! so that operators can see whether frames are sealed with VAES/AVX-512, AES-NI or the
//! constant-time software fallback.

use std::fmt;

/// The crypto-relevant x86 CPU features of this machine, as seen by
/// `std::is_x86_feature_detected!` (which also checks that the operating system enabled the
/// wider registers). On other architectures every flag is `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// AES-NI: AES rounds in one instruction.
    pub aes: bool,
    /// Carry-less multiplication, used by GHASH (the GCM authenticator).
    pub pclmulqdq: bool,
    /// 256-bit integer vectors.
    pub avx2: bool,
    /// 512-bit vectors (foundation).
    pub avx512f: bool,
    /// Vector AES: AES on 256/512-bit registers, several blocks per instruction.
    pub vaes: bool,
    /// Vector carry-less multiplication: GHASH on wide registers.
    pub vpclmulqdq: bool,
    /// SHA extensions (SHA-1/SHA-256 rounds in hardware).
    pub sha: bool,
    /// On 64-bit ARM only: the ARMv8 AES and PMULL instructions (AES-GCM in hardware).
    pub arm_aes_pmull: bool,
}

impl CpuFeatures {
    /// Detects the features of the running CPU.
    #[must_use]
    pub fn detect() -> Self {
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        {
            CpuFeatures {
                aes: std::is_x86_feature_detected!("aes"),
                pclmulqdq: std::is_x86_feature_detected!("pclmulqdq"),
                avx2: std::is_x86_feature_detected!("avx2"),
                avx512f: std::is_x86_feature_detected!("avx512f"),
                vaes: std::is_x86_feature_detected!("vaes"),
                vpclmulqdq: std::is_x86_feature_detected!("vpclmulqdq"),
                sha: std::is_x86_feature_detected!("sha"),
                arm_aes_pmull: false,
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            CpuFeatures {
                arm_aes_pmull: std::arch::is_aarch64_feature_detected!("aes")
                    && std::arch::is_aarch64_feature_detected!("pmull"),
                ..CpuFeatures::default()
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
        {
            CpuFeatures::default()
        }
    }

    /// Whether AES-GCM runs on dedicated instructions (AES-NI and carry-less multiplication,
    /// or ARMv8 AES and PMULL).
    #[must_use]
    pub fn aes_gcm_in_hardware(&self) -> bool {
        (self.aes && self.pclmulqdq) || self.arm_aes_pmull
    }

    /// The AES-GCM code path AWS-LC is expected to pick on this CPU.
    #[must_use]
    pub fn aes_gcm_path(&self) -> &'static str {
        if self.vaes && self.vpclmulqdq && self.avx512f {
            "VAES + VPCLMULQDQ (AVX-512)"
        } else if self.vaes && self.vpclmulqdq && self.avx2 {
            "VAES + VPCLMULQDQ (AVX2)"
        } else if self.aes && self.pclmulqdq {
            "AES-NI + PCLMULQDQ"
        } else if self.arm_aes_pmull {
            "ARMv8 AES + PMULL"
        } else {
            "constant-time software (no AES instructions)"
        }
    }

    /// The x86 flags as (name, present) pairs, in a fixed order.
    #[must_use]
    pub fn flags(&self) -> [(&'static str, bool); 7] {
        [
            ("aes", self.aes),
            ("pclmulqdq", self.pclmulqdq),
            ("avx2", self.avx2),
            ("avx512f", self.avx512f),
            ("vaes", self.vaes),
            ("vpclmulqdq", self.vpclmulqdq),
            ("sha", self.sha),
        ]
    }
}

impl fmt::Display for CpuFeatures {
    /// `aes pclmulqdq avx2 -avx512f ...`: present flags by name, absent ones with a `-`
    /// (on 64-bit ARM: `aes+pmull` or `-aes+pmull`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if cfg!(target_arch = "aarch64") {
            return f.write_str(if self.arm_aes_pmull {
                "aes+pmull"
            } else {
                "-aes+pmull"
            });
        }
        for (i, (name, present)) in self.flags().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if !present {
                f.write_str("-")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(target_arch = "aarch64"))]
    fn display_lists_every_flag() {
        let none = CpuFeatures::default();
        assert_eq!(
            none.to_string(),
            "-aes -pclmulqdq -avx2 -avx512f -vaes -vpclmulqdq -sha"
        );
        let some = CpuFeatures {
            aes: true,
            pclmulqdq: true,
            ..CpuFeatures::default()
        };
        assert!(some.to_string().starts_with("aes pclmulqdq -avx2"));
        assert_eq!(some.aes_gcm_path(), "AES-NI + PCLMULQDQ");
    }

    #[test]
    fn detection_is_stable() {
        assert_eq!(CpuFeatures::detect(), CpuFeatures::detect());
    }
}
