"""Writes a Golden Copy shaped CSV (LEI-CDF column names) of N synthetic German entities,
for measuring the gleif_golden_copy register by hand:
    python3 scripts/gen-golden-copy.py 1000000 /tmp/golden-copy-1m.csv
LEIs carry valid ISO 7064 check digits; names, addresses and numbers are random."""
import random, sys
random.seed(4)
N=int(sys.argv[1]); out=sys.argv[2]
H="LEI,Entity.LegalName,Entity.OtherEntityNames.OtherEntityName.1,Entity.OtherEntityNames.OtherEntityName.1.type,Entity.LegalAddress.FirstAddressLine,Entity.LegalAddress.AdditionalAddressLine.1,Entity.LegalAddress.City,Entity.LegalAddress.Region,Entity.LegalAddress.Country,Entity.LegalAddress.PostalCode,Entity.HeadquartersAddress.FirstAddressLine,Entity.HeadquartersAddress.City,Entity.HeadquartersAddress.Country,Entity.HeadquartersAddress.PostalCode,Entity.LegalJurisdiction,Entity.LegalForm.EntityLegalFormCode,Entity.EntityStatus,Entity.RegistrationAuthority.RegistrationAuthorityID,Entity.RegistrationAuthority.RegistrationAuthorityEntityID,Registration.LastUpdateDate,Registration.RegistrationStatus"
syl=["ber","lin","ka","ro","mu","ne","stein","berg","hof","tal","sch","mid","wa","gen","tech","log","sys","bau","han","del"]
cities=[("Berlin","DE-BE"),("Hamburg","DE-HH"),("München","DE-BY"),("Köln","DE-NW"),("Frankfurt am Main","DE-HE"),("Stuttgart","DE-BW"),("Leipzig","DE-SN"),("Fürth","DE-BY")]
forms=[("GmbH","2HBR"),("AG","6QQB"),("KG","8Z6G"),("SE","SGST")]
streets=["Hauptstraße","Bahnhofstraße","Industriestraße","Am Markt","Gartenweg","Ringstraße"]
def lei(i):
    body="5299"+format(i,"014d")
    n=int("".join(str(int(c,36)) for c in body+"00"))
    return body+"%02d"%(98-n%97)
with open(out,"w") as f:
    f.write(H+"\n")
    for i in range(N):
        name="".join(random.choice(syl) for _ in range(3)).capitalize()
        fm,elf=random.choice(forms); c,reg=random.choice(cities)
        st=random.choice(streets)+" "+str(random.randint(1,200))
        plz="%05d"%random.randint(1067,99998)
        other,otype=("",)*2
        if random.random()<0.1: other,otype=name+" Holding "+fm,"PREVIOUS_LEGAL_NAME"
        status="INACTIVE" if random.random()<0.05 else "ACTIVE"
        f.write(f'{lei(i)},{name} {fm},{other},{otype},"{st}",,{c},{reg},DE,{plz},"{st}",{c},DE,{plz},DE,{elf},{status},RA000242,HRB {random.randint(1000,999999)},2025-0{random.randint(1,9)}-1{random.randint(0,9)}T08:12:40Z,ISSUED\n')
