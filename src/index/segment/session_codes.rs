//! Session ids as small numbers, so a row carries 4 bytes instead of a
//! string.

use std::collections::HashMap;

/// Small numbers standing for session ids (4 bytes a row instead of a
/// string); a session's number is freed with its last row, so sessions
/// deleted over the years leave nothing behind.
#[derive(Debug, Default)]
pub(super) struct SessionCodes {
    pub(super) by_name: HashMap<String, u32>,
    /// code -> (session id, rows holding the code)
    names: HashMap<u32, (String, u32)>,
    next: u32,
}

impl SessionCodes {
    pub(super) fn code(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub(super) fn acquire(&mut self, name: &str) -> u32 {
        if let Some(&c) = self.by_name.get(name) {
            if let Some(entry) = self.names.get_mut(&c) {
                entry.1 += 1;
            }
            return c;
        }
        while self.names.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let c = self.next;
        self.next = self.next.wrapping_add(1);
        self.by_name.insert(name.to_owned(), c);
        self.names.insert(c, (name.to_owned(), 1));
        c
    }

    pub(super) fn release(&mut self, code: u32) {
        if let Some(entry) = self.names.get_mut(&code) {
            entry.1 -= 1;
            if entry.1 == 0
                && let Some((name, _)) = self.names.remove(&code)
            {
                self.by_name.remove(&name);
            }
        }
    }
}
