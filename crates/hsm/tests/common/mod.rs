//! The test token: `KEYWARD_TEST_PKCS11_MODULE`, `_TOKEN` and `_PIN` (`scripts/test` makes a
//! SoftHSM2 token in a temporary directory). Unset, the tests fail with an explanation, unless
//! `KEYWARD_TEST_SKIP_PKCS11=1` says to skip them on purpose.

use keyward_crypto::SecretBytes;
use keyward_hsm::Pkcs11Config;

/// The test token's options with key label `key_label`; `None` when skipped on purpose. Token
/// errors the library logs show in the failing test's output.
pub fn token_config(key_label: &str) -> Option<Pkcs11Config> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(module) = var("KEYWARD_TEST_PKCS11_MODULE") else {
        if var("KEYWARD_TEST_SKIP_PKCS11").as_deref() == Some("1") {
            eprintln!("PKCS#11 tests skipped on purpose (KEYWARD_TEST_SKIP_PKCS11=1)");
            return None;
        }
        panic!(
            "KEYWARD_TEST_PKCS11_MODULE is not set: run scripts/test (it makes a SoftHSM2 token), \
             or set KEYWARD_TEST_PKCS11_MODULE, _TOKEN and _PIN, or KEYWARD_TEST_SKIP_PKCS11=1"
        );
    };
    Some(Pkcs11Config {
        module: module.into(),
        token_label: var("KEYWARD_TEST_PKCS11_TOKEN").expect("KEYWARD_TEST_PKCS11_TOKEN"),
        key_label: key_label.to_owned(),
        pin: std::sync::Arc::new(SecretBytes::new(
            var("KEYWARD_TEST_PKCS11_PIN")
                .expect("KEYWARD_TEST_PKCS11_PIN")
                .into_bytes(),
        )),
        strict: false,
    })
}
