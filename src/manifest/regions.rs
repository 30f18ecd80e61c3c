//! AWS partitions and their regions, so that a region name is checked
//! against the regions that exist and not only against its shape
//! (`us-west-9` has the right shape and does not exist).
//!
//! The lists come from the partitions document the AWS SDK for Rust embeds
//! for endpoint resolution (`aws-sdk-iam` 1.133.0, `src/endpoint_lib.rs`,
//! partitions document version 1.1; `aws-sdk-sts` 1.124.0 embeds the same
//! one). The SDK's pseudo-regions (`aws-global`, `aws-cn-global`, …) are left
//! out: they name endpoints, not places a bucket can be. AWS opens regions
//! more often than fnctl is released, so a name of a valid shape that is not
//! in the list is a warning, not an error; refresh the lists when the SDK is
//! upgraded.

/// One AWS partition: the regions it has and the shape of its region names.
#[derive(Debug)]
pub struct Partition {
    /// Partition id, as in ARNs: `aws`, `aws-cn`, `aws-us-gov`, …
    pub id: &'static str,
    /// What every region name of the partition starts with (before
    /// `<direction>-<number>`); empty for `aws`, whose names start with any
    /// two-letter area code (the SDK's list of areas grows: `il`, `mx`).
    prefix: &'static str,
    /// The regions known when the list was taken.
    pub regions: &'static [&'static str],
}

/// Every partition, the prefixed ones first: `us-gov-west-1` is `aws-us-gov`,
/// not `aws`. `aws` comes last and takes any other two-letter area.
pub const PARTITIONS: &[Partition] = &[
    Partition {
        id: "aws-us-gov",
        prefix: "us-gov-",
        regions: &["us-gov-east-1", "us-gov-west-1"],
    },
    Partition {
        id: "aws-iso",
        prefix: "us-iso-",
        regions: &["us-iso-east-1", "us-iso-west-1"],
    },
    Partition {
        id: "aws-iso-b",
        prefix: "us-isob-",
        regions: &["us-isob-east-1", "us-isob-west-1"],
    },
    Partition {
        id: "aws-iso-e",
        prefix: "eu-isoe-",
        regions: &["eu-isoe-west-1"],
    },
    Partition {
        id: "aws-iso-f",
        prefix: "us-isof-",
        regions: &["us-isof-east-1", "us-isof-south-1"],
    },
    Partition {
        id: "aws-eusc",
        prefix: "eusc-de-",
        regions: &["eusc-de-east-1"],
    },
    Partition {
        id: "aws-cn",
        prefix: "cn-",
        regions: &["cn-north-1", "cn-northwest-1"],
    },
    Partition {
        id: "aws",
        prefix: "",
        regions: &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
    },
];

/// The direction word of every region name so far.
const DIRECTIONS: &[&str] = &[
    "north",
    "south",
    "east",
    "west",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// A region name of a valid shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The partition its shape belongs to.
    pub partition: &'static str,
    /// Whether the partition lists it; `false` for a region fnctl does not
    /// know (a typo, or a region newer than this list).
    pub known: bool,
}

/// Checks a region name: an error when no partition has names of its shape,
/// otherwise its partition and whether the region is known.
pub(crate) fn check_region(region: &str) -> Result<Region, String> {
    let partition = PARTITIONS
        .iter()
        .find(|partition| has_shape(partition, region))
        .ok_or_else(|| format!("`{region}` is not an AWS region name (like us-west-2)"))?;
    Ok(Region {
        partition: partition.id,
        known: partition.regions.contains(&region),
    })
}

/// The partition that holds a region (for S3 ARNs); `aws` when the name has
/// no partition's shape.
pub(crate) fn partition_of_region(region: &str) -> &'static str {
    check_region(region).map_or("aws", |found| found.partition)
}

fn has_shape(partition: &Partition, region: &str) -> bool {
    let Some(rest) = region.strip_prefix(partition.prefix) else {
        return false;
    };
    let rest = if partition.prefix.is_empty() {
        // `aws`: a two-letter area code first.
        match rest.split_once('-') {
            Some((area, rest))
                if area.len() == 2 && area.bytes().all(|b| b.is_ascii_lowercase()) =>
            {
                rest
            }
            _ => return false,
        }
    } else {
        rest
    };
    let Some((direction, number)) = rest.split_once('-') else {
        return false;
    };
    DIRECTIONS.contains(&direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_region_has_its_partitions_shape() {
        for partition in PARTITIONS {
            for region in partition.regions {
                assert_eq!(
                    check_region(region),
                    Ok(Region {
                        partition: partition.id,
                        known: true
                    }),
                    "{region}"
                );
            }
        }
    }

    #[test]
    fn unknown_regions_of_a_valid_shape_are_not_errors() {
        for (region, partition) in [
            ("us-west-9", "aws"),
            ("zz-central-1", "aws"),
            ("cn-south-1", "aws-cn"),
            ("us-gov-central-1", "aws-us-gov"),
            ("us-isob-south-1", "aws-iso-b"),
            ("eusc-de-west-1", "aws-eusc"),
        ] {
            assert_eq!(
                check_region(region),
                Ok(Region {
                    partition,
                    known: false
                }),
                "{region}"
            );
        }
    }

    #[test]
    fn names_of_no_partitions_shape_are_errors() {
        for bad in [
            "us-west",
            "uswest2",
            "us-middle-1",
            "USA-west-2",
            "us-west-2a",
            "us-west-123",
            "eu-eusc-east-1",
            "us-isoz-east-1",
            "aws-global",
            "",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partitions_of_regions() {
        assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("us-iso-east-1"), "aws-iso");
        assert_eq!(partition_of_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_of_region("eu-isoe-west-1"), "aws-iso-e");
        assert_eq!(partition_of_region("us-isof-south-1"), "aws-iso-f");
        assert_eq!(partition_of_region("eusc-de-east-1"), "aws-eusc");
        assert_eq!(partition_of_region("eu-west-1"), "aws");
    }
}
