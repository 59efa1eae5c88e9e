//! Returns never take back more than was sold: [`left_to_return`], the one statement of
//! that rule. The engine checks a return against it before it computes one, the till
//! before it takes in another till's returns of a store sale, and central when it records
//! a return (a return beyond it is flagged, never refused: the till already gave the
//! money back).

use thiserror::Error;

/// The returns of a line take back more than the line sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{returned} returned of {sold} sold")]
pub struct ReturnedMoreThanSold {
    /// What the line sold, in its own measure (units, or grams).
    pub sold: u32,
    /// What its returns add up to, in the same measure.
    pub returned: u64,
}

/// What is left to return of a line that sold `sold` (units, or grams) after the returns
/// `returned` (in the same measure); an error when they add up to more than was sold.
pub fn left_to_return(
    sold: u32,
    returned: impl IntoIterator<Item = u32>,
) -> Result<u32, ReturnedMoreThanSold> {
    let returned = returned
        .into_iter()
        .fold(0_u64, |sum, q| sum.saturating_add(u64::from(q)));
    u64::from(sold)
        .checked_sub(returned)
        .and_then(|left| u32::try_from(left).ok())
        .ok_or(ReturnedMoreThanSold { sold, returned })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn what_is_left_and_what_is_too_much() {
        assert_eq!(left_to_return(3, []), Ok(3));
        assert_eq!(left_to_return(3, [1, 2]), Ok(0));
        assert_eq!(
            left_to_return(3, [2, 2]),
            Err(ReturnedMoreThanSold {
                sold: 3,
                returned: 4
            })
        );
        assert_eq!(
            left_to_return(350, [351]).unwrap_err().to_string(),
            "351 returned of 350 sold"
        );
        // Sums beyond u32 do not wrap around to something small.
        assert!(left_to_return(u32::MAX, [u32::MAX, 1]).is_err());
    }

    proptest! {
        #[test]
        fn left_plus_returned_is_what_was_sold(
            sold in any::<u32>(),
            returned in proptest::collection::vec(any::<u32>(), 0..8),
        ) {
            let total: u64 = returned.iter().map(|&q| u64::from(q)).sum();
            match left_to_return(sold, returned.iter().copied()) {
                Ok(left) => prop_assert_eq!(u64::from(left) + total, u64::from(sold)),
                Err(e) => {
                    prop_assert!(total > u64::from(sold));
                    prop_assert_eq!(e, ReturnedMoreThanSold { sold, returned: total });
                }
            }
        }
    }
}
